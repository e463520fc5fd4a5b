import t from "tap";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RunDir, newRunId } from "../src/observe/run-dir.ts";
import { RunState } from "../src/observe/run-state.ts";
import { testInventory } from "./fixtures/inventory.ts";

t.test("run directory layout", async (t) => {
  const base = await mkdtemp(join(tmpdir(), "fieldtest-rundir-"));
  t.teardown(() => rm(base, { recursive: true, force: true }));

  t.match(newRunId(new Date("2025-01-31T14:25:01Z")), /^20250131-142501-[0-9a-f]{4}$/);

  const dir = await RunDir.create({ baseDir: base, namespace: "obs-test", runId: "run-1" });
  t.equal(dir.path, join(base, "obs-test", "run-1"));
  await t.rejects(RunDir.create({ baseDir: base, namespace: "obs-test", runId: "run-1" }), /already exists: pick another run id/);
  await t.rejects(RunDir.create({ baseDir: base, namespace: "Bad_NS" }), /namespace "Bad_NS"/);
  await t.rejects(RunDir.create({ baseDir: base, namespace: "obs-test", runId: "../x" }), /run id "..\/x" cannot name a log file/);

  const inventory = testInventory(2);
  await dir.writeConfig({ scenario: "health", website: true });
  await dir.writeInventory(inventory);
  await dir.writeResult({ status: "failed", error: "boom", phase: "check" });

  const state = new RunState({ inventory, scenario: "health", clientKeyPath: "k", knownHostsPath: "kh" });
  const stop = dir.recordLogs(state);
  state.appendLog("agent-1", "server", "listening on 31000");
  state.appendLog("agent-1", "server", "accepted\n");
  state.appendLog("agent-2", "client", "connected");
  stop();
  state.appendLog("agent-2", "client", "not recorded");
  dir.logAppender("agent-2", "client").append("direct");
  t.throws(() => dir.logAppender("agent-1", "../../etc"), /daemon "..\/..\/etc" cannot name a log file/);
  await dir.close();

  t.same(JSON.parse(await readFile(join(dir.path, "config.json"), "utf8")), { scenario: "health", website: true });
  t.same(JSON.parse(await readFile(join(dir.path, "inventory.json"), "utf8")), inventory);
  const result = JSON.parse(await readFile(join(dir.path, "result.json"), "utf8"));
  t.match(result, { status: "failed", error: "boom", phase: "check", finishedAt: String });
  t.same((await readdir(dir.logsDir)).sort(), ["agent-1-server.log", "agent-2-client.log"]);
  const server = (await readFile(join(dir.logsDir, "agent-1-server.log"), "utf8")).trimEnd().split("\n");
  t.match(server, [/^\S+Z listening on 31000$/, /^\S+Z accepted$/]);
  t.match(await readFile(join(dir.logsDir, "agent-2-client.log"), "utf8"), /^\S+Z connected\ndirect\n$/);
});
