import t from "tap";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunState } from "../src/observe/run-state.ts";
import type { Checker } from "../src/index.ts";
import { checkHistory, CHECKERS, type CheckerName } from "../src/runtime/checkers/index.ts";
import { NAMED_CHECKERS } from "../src/runtime/checkers/registry.ts";
import type { HistoryEntry, OpEntry } from "../src/runtime/history/entry.ts";
import { readHistory } from "../src/runtime/history/reader.ts";
import { RunHistory } from "../src/observe/run-history.ts";
import { testInventory } from "./fixtures/inventory.ts";

/** A history from [time, type, process, f, value, key?] rows, times in arbitrary units. */
function history(rows: [number, OpEntry["type"], number, string, unknown, string?][]): HistoryEntry[] {
  return rows.map(([time, type, process, f, value, key], i) => ({ kind: "op", index: i + 1, time, type, process, f, value, ...(key === undefined ? {} : { key }) }));
}

t.test("register: a lost update is not linearizable, the correct history is", async (t) => {
  // p0 writes 1, p1 writes 2 after p0's write was acknowledged, then p2 reads 1: p1's write was lost.
  const lost = history([
    [0, "invoke", 0, "write", 1, "x"],
    [1, "ok", 0, "write", 1, "x"],
    [2, "invoke", 1, "write", 2, "x"],
    [3, "ok", 1, "write", 2, "x"],
    [4, "invoke", 2, "read", null, "x"],
    [5, "ok", 2, "read", 1, "x"],
  ]);
  const invalid = checkHistory(lost, { checkers: ["register"] });
  t.equal(invalid.valid, false);
  t.same(invalid.checkers[0]?.invalidKeys, ["x"]);

  const correct = history([
    [0, "invoke", 0, "write", 1, "x"],
    [1, "ok", 0, "write", 1, "x"],
    [2, "invoke", 1, "write", 2, "x"],
    // Concurrent with the write of 2: reading 1 is fine, the write may land after the read.
    [3, "invoke", 2, "read", null, "x"],
    [4, "ok", 2, "read", 1, "x"],
    [5, "ok", 1, "write", 2, "x"],
    [6, "invoke", 2, "read", null, "x"],
    [7, "ok", 2, "read", 2, "x"],
    [8, "invoke", 0, "cas", [2, 3], "x"],
    [9, "ok", 0, "cas", [2, 3], "x"],
    [10, "invoke", 0, "cas", [7, 8], "x"],
    [11, "fail", 0, "cas", [7, 8], "x"],
    [12, "invoke", 1, "read", null, "y"],
    [13, "ok", 1, "read", null, "y"],
  ]);
  const valid = checkHistory(correct, { checkers: ["register"] });
  t.equal(valid.valid, true, JSON.stringify(valid));
  t.equal(valid.checkers[0]?.keys, 2);
});

t.test("register: a write of unknown outcome may or may not have happened", async (t) => {
  const base: [number, OpEntry["type"], number, string, unknown, string?][] = [
    [0, "invoke", 0, "write", 1],
    [1, "ok", 0, "write", 1],
    [2, "invoke", 1, "write", 5],
    [3, "info", 1, "write", 5],
  ];
  t.equal(checkHistory(history([...base, [4, "invoke", 2, "read", null], [5, "ok", 2, "read", 5]]), { checkers: ["register"] }).valid, true);
  t.equal(checkHistory(history([...base, [4, "invoke", 2, "read", null], [5, "ok", 2, "read", 1]]), { checkers: ["register"] }).valid, true);
  t.equal(checkHistory(history([...base, [4, "invoke", 2, "read", null], [5, "ok", 2, "read", 9]]), { checkers: ["register"] }).valid, false);
});

t.test("register: a history too large for the time limit is unknown, not valid", async (t) => {
  // 26 concurrent writes of distinct values, then reads that no order explains: proving that
  // means trying every subset of the writes, far more than the limit allows.
  const rows: [number, OpEntry["type"], number, string, unknown, string?][] = [];
  const writers = 26;
  for (let p = 0; p < writers; p++) rows.push([p, "invoke", p, "write", p]);
  rows.push([100, "invoke", 100, "read", null], [101, "ok", 100, "read", 1000]);
  for (let p = 0; p < writers; p++) rows.push([200 + p, "ok", p, "write", p]);
  const started = Date.now();
  const report = checkHistory(history(rows), { checkers: ["register"], timeLimitMs: 300 });
  t.equal(report.valid, "unknown", String(report.checkers[0]?.summary));
  t.match(report.checkers[0]?.summary, /time limit of 300 ms reached/);
  t.ok(Date.now() - started < 3000, "the limit is honoured");
});

t.test("counter and set", async (t) => {
  const counter = history([
    [0, "invoke", 0, "add", 1],
    [1, "ok", 0, "add", 1],
    [2, "invoke", 1, "add", 2],
    [3, "invoke", 2, "read", null],
    [4, "ok", 2, "read", 1],
    [5, "ok", 1, "add", 2],
    [6, "invoke", 2, "read", null],
    [7, "ok", 2, "read", 3],
  ]);
  t.equal(checkHistory(counter, { checkers: ["counter"] }).valid, true);
  const tooLow = history([...(counter.slice(0, 6) as OpEntry[]).map(({ kind, time, type, process, f, value }) => [time, type, process, f, value] as [number, OpEntry["type"], number, string, unknown]), [6, "invoke", 2, "read", null], [7, "ok", 2, "read", 1]]);
  const low = checkHistory(tooLow, { checkers: ["counter"] });
  t.equal(low.valid, false);
  t.match(low.checkers[0]?.errors, [{ read: 1, lower: 3, upper: 3 }]);

  const set = history([
    [0, "invoke", 0, "add", "a"],
    [1, "ok", 0, "add", "a"],
    [2, "invoke", 1, "add", "b"],
    [3, "ok", 1, "add", "b"],
    [4, "invoke", 2, "add", "c"],
    [5, "info", 2, "add", "c"],
    [6, "invoke", 3, "read", null],
    [7, "ok", 3, "read", ["a", "c"]],
  ]);
  const lost = checkHistory(set, { checkers: ["set"] });
  t.equal(lost.valid, false);
  t.match(lost.checkers[0], { lost: ["b"], recovered: 1, unexpected: [] });
  const fine = history([...(set.slice(0, 7) as OpEntry[]).map(({ time, type, process, f, value }) => [time, type, process, f, value] as [number, OpEntry["type"], number, string, unknown]), [7, "ok", 3, "read", ["a", "b"]]]);
  t.equal(checkHistory(fine, { checkers: ["set"] }).valid, true);
  t.equal(checkHistory([], { checkers: ["set"] }).valid, "unknown", "no read: nothing to say");
});

t.test("the history names its checkers", async (t) => {
  const entries: HistoryEntry[] = [{ kind: "event", index: 1, time: 0, type: "checkers", data: { checkers: ["set", "bogus"] } }, ...history([[1, "invoke", 0, "read", null], [2, "ok", 0, "read", []]])];
  const report = checkHistory(entries);
  t.same(report.checkers.map((c) => c.checker), ["set"]);
  t.equal(report.valid, true);
});

t.test("a scenario's own checker composes with the named ones: valid, invalid, unknown merge as in Jepsen", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-checkers-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const state = new RunState({ inventory: testInventory(1), scenario: "s", clientKeyPath: "k", knownHostsPath: "kh" });
  const run = RunHistory.create(dir, state);
  const seen: number[] = [];
  const noFailedWrites: Checker = {
    name: "no-failed-writes",
    check: ({ ops, entries }) => {
      seen.push(entries.length);
      const failed = ops.filter((op) => op.f === "write" && op.status === "fail");
      return { checker: "no-failed-writes", valid: failed.length === 0, summary: `${failed.length} failed write(s)` };
    },
  };
  run.writer.check("register", noFailedWrites);
  run.writer.invoke({ process: 0, f: "write", key: "x", value: 1 }).ok();
  run.writer.invoke({ process: 1, f: "write", key: "x", value: 2 }).fail("refused");
  run.writer.invoke({ process: 2, f: "read", key: "x" }).ok(1);
  const report = await run.finish({ status: "passed" });
  t.match(report, { valid: false, checkers: [{ checker: "register", valid: true }, { checker: "no-failed-writes", valid: false, summary: "1 failed write(s)" }] });
  t.ok(seen[0]! > 6, "the checker read the whole history, events included");
  const { entries } = await readHistory(run.path);
  t.match(entries.find((e) => e.kind === "event" && e.type === "checkers"), { data: { checkers: ["register"], custom: ["no-failed-writes"] } });

  const ops = history([[0, "invoke", 0, "write", 1], [1, "ok", 0, "write", 1]]);
  const throws: Checker = { name: "throws", check: () => { throw new Error("model missing"); } };
  const answersJunk = { name: "junk", check: () => ({ checker: "junk", valid: "yes", summary: "" }) } as unknown as Checker;
  t.match(checkHistory(ops, { checkers: [], custom: [throws, answersJunk] }), { valid: "unknown", checkers: [{ valid: "unknown", summary: /threw: model missing/ }, { valid: "unknown", summary: /valid: "yes"/ }] });
  t.throws(() => run.writer.check("linearizable" as CheckerName), /unknown checker "linearizable"; choose from counter, set, register or pass a Checker/);
});

t.test("every checker name has its checker in the registry, and runs it", async (t) => {
  const ops = history([[0, "invoke", 0, "add", 1], [1, "ok", 0, "add", 1], [2, "invoke", 1, "read", null], [3, "ok", 1, "read", 1]]);
  for (const name of CHECKERS) {
    t.equal(NAMED_CHECKERS[name].name, name);
    t.equal(checkHistory(ops, { checkers: [name] }).checkers[0]?.checker, name, `${name} runs its own checker`);
  }
});
