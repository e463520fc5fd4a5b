import { Listeners } from "./listeners.ts";
import { LogRings, type LogFilter, type LogLine } from "./log-rings.ts";
import type { RunStateSnapshot } from "./run-state.ts";
import type { LogBurst } from "./website-protocol.ts";

export type ViewEvent = { type: "state" } | { type: "log"; log: LogLine } | { type: "skipped" };

/** What /api/state serves: the run's state with the log streams the website holds. */
export type WebsiteSnapshot = RunStateSnapshot & { logStreams: { agent: string; daemon: string; lines: number }[] };

/**
 * The website's copy of a run's state, on the website's own thread: the runner's thread sends
 * it each change and each batch of lines (website.ts), and every request is answered from it,
 * so a runner busy with a thousand streaming agents does not keep a page waiting.
 */
export class WebsiteView {
  readonly #logs: LogRings;
  readonly #events = new Listeners<ViewEvent>();
  #state: RunStateSnapshot;
  /** The runner's pushed-metrics version, as last sent: a change tells pages to fetch the series again. */
  metricsVersion = 0;

  constructor(state: RunStateSnapshot, linesPerStream: number, totalLines?: number) {
    this.#state = state;
    this.#logs = new LogRings(linesPerStream, totalLines);
  }

  setState(state: RunStateSnapshot): void {
    this.#state = state;
    this.#events.emit({ type: "state" });
  }

  appendBursts(bursts: readonly LogBurst[]): void {
    for (const { agent, daemon, time, lines } of bursts) {
      for (const line of lines) {
        const log = { time, agent, daemon, line };
        this.#logs.push(log);
        this.#events.emit({ type: "log", log });
      }
    }
  }

  /** Lines were left out before the next ones: pages start over from the recent lines. */
  markSkipped(): void {
    this.#events.emit({ type: "skipped" });
  }

  get ended(): boolean {
    return this.#state.ended;
  }

  /** The state as the runner last sent it, with the TTL counted to now and the log streams held here. */
  snapshot(now: Date = new Date()): WebsiteSnapshot {
    return {
      ...this.#state,
      ttlRemainingSeconds: Math.round((Date.parse(this.#state.expiresAt) - now.getTime()) / 1000),
      logStreams: this.#logs.streams(),
    };
  }

  logs(filter: LogFilter = {}): LogLine[] {
    return this.#logs.logs(filter);
  }

  recentLogs(limit: number): LogLine[] {
    return this.#logs.recent(limit);
  }

  /** Listens to every change; returns the function that stops listening. */
  subscribe(listener: (event: ViewEvent) => void): () => void {
    return this.#events.add(listener);
  }
}
