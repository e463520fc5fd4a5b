import type { MessagePort } from "node:worker_threads";
import type { RunStateSnapshot } from "./run-state.ts";
import type { SeriesHistory } from "./metrics.ts";

/** What one /api/events client may cost the runner before it is cut off. */
export interface EventStreamLimits {
  /** Log lines held for a client between pushes; beyond, the oldest are dropped and a fresh `logs-all` follows. */
  pendingLines: number;
  /** Lines a `logs-all` carries at most, shared evenly by the streams (each keeps its newest). */
  resyncLines: number;
  /** Bytes queued in the client's socket beyond which it is dropped. */
  bufferedBytes: number;
  /** A client that has not read what was written this long is dropped. */
  stalledMs: number;
}

/** The website's settings as its thread receives them: plain data, checked by startWebsite. */
export interface WebsiteConfig {
  host: string;
  port: number;
  auth?: { username: string; password: string };
  tls?: { certPath: string; keyPath: string };
  pushIntervalMs: number;
  allowedHosts: string[];
  eventStreamLimits: EventStreamLimits;
  /** The run's history.jsonl, read by /api/history; absent, the history is empty. */
  historyPath?: string;
  endedLingerMs: number;
  /** Recent lines the website keeps per agent+daemon; older ones are in the run directory's logs. */
  logLinesPerStream: number;
  /** Recent lines the website keeps in all, shared by the streams (see LogRings). */
  logLinesTotal: number;
}

/**
 * Lines of one agent+daemon received in the same millisecond: a burst of a daemon's output
 * crosses to the website's thread as a few strings rather than an object per line.
 */
export interface LogBurst {
  agent: string;
  daemon: string;
  time: string;
  lines: string[];
}

/** What the website asks the runner's thread, which holds the metrics and the checkers. */
export type Question = { what: "metrics" } | { what: "series"; filter: { name?: string; limitPerMetric?: number } } | { what: "checks" };

export interface Answers {
  metrics: { contentType: string; body: string };
  series: { version: number; series: SeriesHistory[] };
  checks: unknown;
}

export type ToWebsite =
  | { type: "state"; state: RunStateSnapshot }
  | { type: "logs"; bursts: LogBurst[] }
  /** Lines were left out: the website fell `maxLinesInFlight` behind. */
  | { type: "skipped" }
  | { type: "metrics-version"; version: number }
  | { type: "answer"; id: number; value?: unknown; error?: string }
  | { type: "close" };

export type FromWebsite =
  | { type: "listening"; port: number }
  | { type: "failed"; message: string }
  | { type: "ask"; id: number; question: Question }
  | { type: "dropped" }
  | { type: "closed" };

/**
 * Slots of WebsiteStart.sync. A change is announced when it happens and posted a little later
 * (log lines wait for the end of the runner's synchronous run, to go over together), so a
 * request takes every change announced before it arrived, waiting briefly for its message.
 * `linesApplied` counts the log lines the website has taken, so the runner knows its backlog.
 */
export const SYNC = { announced: 0, posted: 1, linesApplied: 2 } as const;

/** What starts the website's thread (its workerData). */
export interface WebsiteStart {
  config: WebsiteConfig;
  /** Where the runner's thread sends ToWebsite messages. */
  port: MessagePort;
  /** Counts of those messages, announced and posted (see SYNC), over a SharedArrayBuffer. */
  sync: Int32Array;
  state: RunStateSnapshot;
  metricsVersion: number;
}
