import { closeSync, openSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { checkHistory } from "../../src/runtime/checkers/index.ts";
import type { HistoryEntry, OpEntry } from "../../src/runtime/history/entry.ts";
import { HistoryWriter } from "../../src/runtime/history/writer.ts";
import type { Measure } from "../lib/context.ts";
import { row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_EVENTS_PER_S = 100_000;

/**
 * History append throughput: `HistoryWriter` (one write(2) per entry, crash-safe) against
 * the plainest synchronous code that gives the same guarantee — `JSON.stringify` of the same
 * entries and `writeSync` on an O_APPEND descriptor, no index, no clock — alternating per round.
 * Then checker time for 10,000 register operations over 100 keys, against reading that
 * history's operations once (the floor any checker pays).
 */
export const history: Measure = {
  id: "history",
  title: "history append and checkers",
  async run(context) {
    const events = Math.max(10_000, context.sizes.logLines / 4);
    const rounds = context.sizes.logRounds;
    const dir = await mkdtemp(join(tmpdir(), "fieldtest-bench-history-"));
    try {
      const writer: number[] = [];
      const raw: number[] = [];
      for (let round = 0; round < rounds; round++) {
        context.signal.throwIfAborted();
        context.progress.step(`history: ${events} events, round ${round + 1}/${rounds}`);
        const history = HistoryWriter.create(join(dir, `h-${round}.jsonl`));
        let started = performance.now();
        for (let i = 0; i < events; i++) history.invoke({ process: i % 10, f: "write", key: `k${i % 100}`, value: i }).ok();
        writer.push((2 * events) / ((performance.now() - started) / 1000));
        history.close();

        const fd = openSync(join(dir, `raw-${round}.jsonl`), "a");
        started = performance.now();
        for (let i = 0; i < events; i++) {
          const op = { kind: "op", index: 2 * i, time: i, type: "invoke", process: i % 10, f: "write", value: i, key: `k${i % 100}` };
          writeSync(fd, `${JSON.stringify(op)}\n`);
          writeSync(fd, `${JSON.stringify({ ...op, index: 2 * i + 1, type: "ok" })}\n`);
        }
        raw.push((2 * events) / ((performance.now() - started) / 1000));
        closeSync(fd);
      }

      const entries = registerHistory(10_000, 100);
      const check: number[] = [];
      const floor: number[] = [];
      let valid: unknown;
      for (let round = 0; round < rounds; round++) {
        context.signal.throwIfAborted();
        let started = performance.now();
        valid = checkHistory(entries, { checkers: ["register"], timeLimitMs: 60_000 }).valid;
        check.push(performance.now() - started);
        started = performance.now();
        JSON.parse(JSON.stringify(entries));
        floor.push(performance.now() - started);
      }
      if (valid !== true) throw new Error(`history: the checker said ${String(valid)} of a linearizable history`);
      const appended = overRounds(writer);
      return [
        row({
          measure: "history",
          name: `history append, ${(2 * events).toLocaleString("en")} entries`,
          unit: "events/s",
          better: "higher",
          fieldtest: appended,
          baselineName: "JSON.stringify + writeSync on O_APPEND, same entries",
          baseline: overRounds(raw),
          goal: `≥ ${GOAL_EVENTS_PER_S.toLocaleString("en")} events/s`,
          met: appended.median >= GOAL_EVENTS_PER_S,
        }),
        row({
          measure: "history",
          name: "register checker, 10,000 operations over 100 keys",
          unit: "ms",
          better: "lower",
          fieldtest: overRounds(check),
          baselineName: "JSON round trip of the same history",
          baseline: overRounds(floor),
          goal: "—",
          met: null,
        }),
      ];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};

/** A linearizable history: 5 processes per key, overlapping writes and reads that see the last write. */
function registerHistory(ops: number, keys: number): HistoryEntry[] {
  const entries: OpEntry[] = [];
  let time = 0;
  const perKey = ops / keys;
  for (let k = 0; k < keys; k++) {
    let value: number | null = null;
    for (let i = 0; i < perKey; i += 2) {
      const key = `k${k}`;
      const writer = (i / 2) % 5;
      const reader = 5 + ((i / 2) % 5);
      const next: number = (value ?? 0) + 1;
      // The read overlaps the write: either value is allowed, the search has to try both orders.
      entries.push({ kind: "op", index: 0, time: time++, type: "invoke", process: writer, f: "write", key, value: next });
      entries.push({ kind: "op", index: 0, time: time++, type: "invoke", process: reader, f: "read", key });
      entries.push({ kind: "op", index: 0, time: time++, type: "ok", process: reader, f: "read", key, value });
      entries.push({ kind: "op", index: 0, time: time++, type: "ok", process: writer, f: "write", key, value: next });
      value = next;
    }
  }
  return entries.map((entry, index) => ({ ...entry, index }));
}
