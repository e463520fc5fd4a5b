import t from "tap";
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkHistory } from "../src/runtime/checkers/index.ts";
import { parseHistory, readHistory, readNewLines } from "../src/runtime/history/reader.ts";
import { RunHistory } from "../src/observe/run-history.ts";
import { HistoryWriter } from "../src/runtime/history/writer.ts";
import { MetricStore } from "../src/observe/metrics.ts";
import { RunState } from "../src/observe/run-state.ts";
import { startWebsite } from "../src/observe/website.ts";
import { BATCH_BYTES, CappedLog, LogBatch, parseByteSize } from "../src/runtime/capped-log.ts";
import { consoleSink } from "../src/runs/console.ts";
import type { LogLine } from "../src/runtime/daemon.ts";
import { testInventory } from "./fixtures/inventory.ts";
import { ROOT, runCli } from "./helpers/fleet.ts";

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-history-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test("operations and events in Jepsen's shape, one clock, read back", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "history.jsonl");
  const history = HistoryWriter.create(path, new Date("2026-01-01T00:00:00Z"));
  t.throws(() => HistoryWriter.create(path), /EEXIST/, "two runs never share a history");
  history.check("register");
  const write = history.invoke({ process: 0, f: "write", key: "x", value: 1 });
  history.recordEvent("fault", { kind: "partition", grudge: { "agent-001": ["agent-002"] } });
  write.ok();
  t.throws(() => write.fail(), /already completed/);
  history.invoke({ process: 1, f: "read", key: "x" }).ok(1);
  history.invoke({ process: 2, f: "write", key: "x", value: 2 }).info(new Error("timeout"));
  t.throws(() => history.invoke({ process: 3, f: "" }), /f must be a non-empty string/);
  history.close();
  history.recordEvent("late", {});

  const { entries, truncatedTail } = await readHistory(path);
  t.notOk(truncatedTail);
  t.match(entries[0], { kind: "header", startedAt: "2026-01-01T00:00:00.000Z", clock: "monotonic-ns" });
  t.match(entries.slice(1).map((e) => (e.kind === "op" ? `${e.type}:${e.f}:${e.process}` : e.kind === "event" ? e.type : e.kind)), [
    "checkers",
    "invoke:write:0",
    "fault",
    "ok:write:0",
    "invoke:read:1",
    "ok:read:1",
    "invoke:write:2",
    "info:write:2",
    "invoke::3",
  ].filter((x) => x !== "invoke::3"));
  t.match(entries[8], { type: "info", error: "timeout" });
  const times = entries.map((e) => e.time);
  t.same(times, [...times].sort((a, b) => a - b), "entry times never go backwards");
  t.same(entries.map((e) => e.index), entries.map((_, i) => i), "indexes count the lines");
  t.equal(checkHistory(entries).valid, true);
});

t.test("kill -9 of a writer loses at most the last line", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "history.jsonl");
  const script = join(dir, "writer.mts");
  await writeFile(
    script,
    `import { HistoryWriter } from ${JSON.stringify(join(ROOT, "src/runtime/history/writer.ts"))};
const h = HistoryWriter.create(${JSON.stringify(path)});
process.stdout.write("ready\\n");
for (let i = 0; ; i++) h.invoke({ process: i % 4, f: "write", key: "k", value: "v".repeat(i % 500) }).ok();`,
  );
  const child = spawn(process.execPath, ["--import=tsx", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  await new Promise((r) => setTimeout(r, 300));
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  const text = await readFile(path, "utf8");
  const parsed = parseHistory(text);
  t.ok(parsed.entries.length > 1000, `${parsed.entries.length} entries written before the kill`);
  t.equal(parsed.entries.length, text.split("\n").filter(Boolean).length - (parsed.truncatedTail ? 1 : 0), "every complete line parses");
  t.throws(() => parseHistory(`{"kind":"header"}\nnot json\n{"kind":"op"}\n`), /line 2 is not JSON/, "only the last line may be torn");
});

t.test("phases and alerts reach the history; the website serves it", async (t) => {
  const dir = await tempDir(t);
  const state = new RunState({ inventory: testInventory(1), scenario: "s", clientKeyPath: "k", knownHostsPath: "kh" });
  const history = RunHistory.create(dir, state);
  state.setPhase("running");
  state.setActiveAlerts([{ name: "Down", state: "firing", labels: {}, annotations: {}, activeAt: "", value: "1" }]);
  state.setActiveAlerts([]);
  const site = await startWebsite({ state, metrics: new MetricStore(), port: 0, history: { path: history.path, checks: () => history.checks } });
  t.teardown(() => site.close());
  const first = (await (await fetch(`${site.url}/api/history`)).json()) as { entries: { type: string }[]; next: number };
  t.match(first.entries.map((e) => e.type), [undefined, "phase", "phase", "alert-firing", "alert-resolved"]);
  history.writer.recordEvent("fault", { kind: "kill" });
  const more = (await (await fetch(`${site.url}/api/history?from=${first.next}`)).json()) as { entries: { type: string }[] };
  t.match(more.entries, [{ type: "fault" }], "a follower gets only what is new");
  t.equal((await fetch(`${site.url}/api/history?from=-1`)).status, 400);
  t.same(await (await fetch(`${site.url}/api/checks`)).json(), { checks: null });
  history.writer.check("counter");
  const metrics = new MetricStore();
  metrics.push("rtt_seconds", 0.5, { labels: { agent: "agent-1" } });
  metrics.push("rtt_seconds", 0.25, { labels: { agent: "agent-1" } });
  await history.finish({ status: "passed" }, undefined, metrics.history());
  t.match(await (await fetch(`${site.url}/api/checks`)).json(), { checks: { valid: "unknown", checkers: [{ checker: "counter" }] } });
  const { lines } = await readNewLines(history.path, 0);
  t.match(JSON.parse(lines[lines.length - 1]!), { type: "result", data: { status: "passed" } });
  t.match(lines.map((l) => JSON.parse(l)).find((e) => e.type === "metric-summary"), { data: { name: "rtt_seconds", labels: { agent: "agent-1" }, last: 0.25, samples: Number } });
});

t.test("a capped log keeps the newest output within its cap and counts what it dropped", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "d.log");
  const log = new CappedLog(path, 10_000);
  const line = "x".repeat(99);
  for (let i = 0; i < 1000; i++) log.append(`${i} ${line}`);
  log.append("y".repeat(20_000));
  log.append("last");
  log.close();
  const sizes = (await stat(path)).size + (await stat(`${path}.1`)).size;
  t.ok(sizes <= 10_000, `${sizes} bytes on disk`);
  const stats = log.stats();
  t.equal(stats.writtenBytes - stats.droppedBytes, sizes, "written minus dropped is what is on disk");
  t.ok(stats.rotations > 10);
  t.match(await readFile(path, "utf8"), /last\n$/, "the newest line is kept");
  t.match(await readFile(`${path}.1`, "utf8").then((a) => a + "") + (await readFile(path, "utf8")), /line cut, 20001 bytes/);
  t.equal(parseByteSize("4MB"), 4 * 1024 * 1024);

  const batched = new CappedLog(join(dir, "batched.log"), 1024 * 1024);
  batched.append("first");
  batched.append("second\n", "2026-12-06T23:59:59.999Z");
  batched.append("é", "stamp");
  t.equal(statSync(join(dir, "batched.log")).size, 0, "a turn's lines are held until its end");
  await new Promise((resolve) => setImmediate(resolve));
  const together = "first\n2026-12-06T23:59:59.999Z second\nstamp é\n";
  t.equal(await readFile(join(dir, "batched.log"), "utf8"), together, "and written together after it, each stamp before its line");
  t.equal(batched.stats().writtenBytes, Buffer.byteLength(together), "bytes counted as written, stamps and newlines included");
  for (let i = 0; i < BATCH_BYTES / 100; i++) batched.append("z".repeat(99));
  t.ok(statSync(join(dir, "batched.log")).size >= BATCH_BYTES, "a turn that appends much writes without waiting for its end");
  batched.append("tail");
  batched.close();
  t.match(await readFile(join(dir, "batched.log"), "utf8"), /z\ntail\n$/, "close writes what is held");

  const shared = new LogBatch(1000);
  const [a, b] = ["a.log", "b.log"].map((name) => new CappedLog(join(dir, name), 1024 * 1024, shared));
  for (let i = 0; i < 6; i++) a!.append("a".repeat(99));
  for (let i = 0; i < 3; i++) b!.append("b".repeat(99));
  t.equal(statSync(join(dir, "a.log")).size + statSync(join(dir, "b.log")).size, 0, "900 bytes held by the two logs of a 1,000-byte batch");
  b!.append("b".repeat(99));
  t.equal(statSync(join(dir, "a.log")).size + statSync(join(dir, "b.log")).size, 1000, "the thousandth byte, in either log, writes both");
  a!.close();
  b!.close();
  t.throws(() => parseByteSize("lots"), /not a size/);
});

t.test("console levels: all, errors, none, and per daemon", async (t) => {
  const seen: string[] = [];
  const sink = (level: "all" | "errors" | "none") => consoleSink(level, (l: LogLine) => seen.push(`${level}:${l.line}`));
  const lines: LogLine[] = [
    { agent: "agent-001", daemon: "etcd", stream: "stderr", line: '{"level":"info","msg":"ready"}' },
    { agent: "agent-001", daemon: "etcd", stream: "stderr", line: '{"level":"error","msg":"lost leader"}' },
    { agent: "agent-001", daemon: "etcd", stream: "stderr", line: "fieldtest: restarting etcd (restart 1, last exit code 1)" },
    { agent: "scenario", daemon: "log", stream: "stdout", line: "scenario says" },
    { agent: "agent-001", daemon: "noisy", stream: "stdout", line: "ERROR but muted", output: "none" },
    { agent: "agent-001", daemon: "loud", stream: "stdout", line: "chatter", output: "all" },
  ];
  for (const level of ["all", "errors", "none"] as const) for (const line of lines) sink(level)(line);
  t.same(seen.filter((s) => s.startsWith("errors:")), ['errors:{"level":"error","msg":"lost leader"}', "errors:fieldtest: restarting etcd (restart 1, last exit code 1)", "errors:scenario says", "errors:chatter"]);
  t.same(seen.filter((s) => s.startsWith("none:")), ["none:scenario says", "none:chatter"]);
  t.equal(seen.filter((s) => s.startsWith("all:")).length, 5);
});

t.test("fieldtest check <run dir> reruns the checkers", async (t) => {
  const dir = await tempDir(t);
  const history = HistoryWriter.create(join(dir, "history.jsonl"));
  history.check("register", "set");
  history.invoke({ process: 0, f: "write", key: "x", value: 1 }).ok();
  history.invoke({ process: 0, f: "write", key: "x", value: 2 }).ok();
  history.invoke({ process: 1, f: "read", key: "x" }).ok(1);
  history.close();
  const report = await runCli(["check", dir, "--json"], { FIELDTEST_HOME: dir });
  t.equal(report.code, 1, "an invalid history exits 1");
  t.match(JSON.parse(report.stdout), { valid: false, checkers: [{ checker: "register", valid: false }, { checker: "set", valid: "unknown" }] });
  const counter = await runCli(["check", dir, "--checker", "counter"], { FIELDTEST_HOME: dir });
  t.match(counter.stdout, /^counter: INVALID/, "--checker overrides what the scenario named");
  t.equal((await runCli(["check", dir, "--checker", "bogus"], { FIELDTEST_HOME: dir })).code, 2);
});

t.test("bad long-run flags exit 2 naming the flag", async (t) => {
  const home = await tempDir(t);
  const level = await runCli(["run", "health", "--localhost", "--daemon-output", "loud"], { FIELDTEST_HOME: home });
  t.equal(level.code, 2);
  t.match(level.stderr, /--daemon-output "loud" must be one of all, errors, none/);
  const cap = await runCli(["run", "health", "--localhost", "--log-cap", "12"], { FIELDTEST_HOME: home });
  t.equal(cap.code, 2);
  t.match(cap.stderr, /--log-cap: "12" is below the smallest log cap of 1KB/);
});
