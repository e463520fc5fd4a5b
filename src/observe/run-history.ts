import { join } from "node:path";
import { checkHistory, type CheckReport } from "../runtime/checkers/index.ts";
import type { SeriesHistory } from "./metrics.ts";
import type { RunState } from "./run-state.ts";
import { HISTORY_FILE } from "../runtime/history/entry.ts";
import { readHistory } from "../runtime/history/reader.ts";
import { HistoryWriter } from "../runtime/history/writer.ts";

/**
 * A run's history.jsonl, fed as the run goes: phase changes and alerts starting or ending
 * come from the run's state; daemons, faults and the scenario's operations are recorded by
 * whoever sees them (`recordEvent`, `cloud.history`).
 */
export class RunHistory {
  readonly writer: HistoryWriter;
  readonly #unsubscribe: () => void;
  #checks: CheckReport | undefined;

  private constructor(writer: HistoryWriter, state: RunState) {
    this.writer = writer;
    writer.recordEvent("phase", { phase: state.phase });
    let firing = new Set<string>();
    this.#unsubscribe = state.subscribe((event) => {
      if (event.type === "phase") writer.recordEvent("phase", { phase: event.phase });
      if (event.type === "alerts") {
        const now = new Set(state.activeAlerts.filter((a) => a.state === "firing").map((a) => a.name));
        for (const name of now) if (!firing.has(name)) writer.recordEvent("alert-firing", { alert: name });
        for (const name of firing) if (!now.has(name)) writer.recordEvent("alert-resolved", { alert: name });
        firing = now;
      }
    });
  }

  static create(runDirPath: string, state: RunState): RunHistory {
    return new RunHistory(HistoryWriter.create(join(runDirPath, HISTORY_FILE)), state);
  }

  get path(): string {
    return this.writer.path;
  }

  /** The checkers' report, once `finish` ran them. */
  get checks(): CheckReport | undefined {
    return this.#checks;
  }

  /**
   * Runs the checkers over the history so far, the file left open: a run checks when its scenario
   * ends, so a keep-alive shows the verdict (and a failed check ends the run) before any Ctrl+C.
   */
  async checkSoFar(timeLimitMs?: number): Promise<CheckReport> {
    const { entries } = await readHistory(this.path);
    this.#checks = checkHistory(entries, timeLimitMs === undefined ? {} : { timeLimitMs });
    return this.#checks;
  }

  /** Records the outcome, runs the checkers the scenario named, and closes the file. */
  async finish(result: { status: string; error?: string }, timeLimitMs?: number, metrics: readonly SeriesHistory[] = []): Promise<CheckReport> {
    this.#unsubscribe();
    // What the pushed metrics did, per series (over the samples the charts kept), in the file a person reads later.
    for (const series of metrics) {
      if (series.v.length === 0) continue;
      this.writer.recordEvent("metric-summary", {
        name: series.name,
        labels: series.labels,
        samples: series.v.length,
        last: series.v[series.v.length - 1],
        min: Math.min(...series.v),
        max: Math.max(...series.v),
      });
    }
    this.writer.recordEvent("result", result);
    this.writer.close();
    const { entries } = await readHistory(this.path);
    this.#checks = checkHistory(entries, { custom: this.writer.customCheckers, ...(timeLimitMs === undefined ? {} : { timeLimitMs }) });
    return this.#checks;
  }
}
