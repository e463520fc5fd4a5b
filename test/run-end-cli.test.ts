// What the end of a run and the commands around it tell the user, without a fleet:
// `fieldtest check`'s exit statuses (Jepsen's: 1 invalid, 2 unknown), a checker that does not
// apply to a history, and hints that name the scenario as the user gave it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { HistoryWriter } from "../src/runtime/history/writer.ts";
import { runCli } from "./helpers/fleet.ts";

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-runend-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A counter's history: adds and reads, no write or cas. */
async function counterRun(dir: string): Promise<void> {
  const history = HistoryWriter.create(join(dir, "history.jsonl"));
  history.check("counter");
  history.invoke({ process: 0, f: "add", value: 1 }).ok();
  history.invoke({ process: 0, f: "add", value: 2 }).ok();
  history.invoke({ process: 1, f: "read" }).ok(3);
  history.close();
}

t.test("check exits 0 valid, 2 when no checker could decide", async (t) => {
  const dir = await tempDir(t);
  await counterRun(dir);
  const valid = await runCli(["check", dir], { FIELDTEST_HOME: dir });
  t.equal(valid.code, 0, "a valid history exits 0", { output: valid.stdout + valid.stderr });
  t.match(valid.stdout, /^counter: valid/);
  const set = await runCli(["check", dir, "--checker", "set"], { FIELDTEST_HOME: dir });
  t.match(set.stdout, /^set: unknown/, "the set checker cannot read a number as a set");
  t.equal(set.code, 2, "unknown exits 2, as Jepsen's");
});

t.test("--checker register over a history without register operations is not applicable, not INVALID", async (t) => {
  const dir = await tempDir(t);
  await counterRun(dir);
  const text = await runCli(["check", dir, "--checker", "register"], { FIELDTEST_HOME: dir });
  t.match(text.stdout, /^register: not applicable {2}not applicable: the history has no write or cas operation/);
  t.notMatch(text.stdout, /INVALID/);
  t.equal(text.code, 2, "nothing was decided");
  const json = await runCli(["check", dir, "--checker", "register", "--json"], { FIELDTEST_HOME: dir });
  t.match(JSON.parse(json.stdout), { valid: "unknown", checkers: [{ checker: "register", valid: "unknown", notApplicable: true }] });
});

t.test("describe and the bad-parameter hint name the scenario as the user gave it", async (t) => {
  const home = await tempDir(t);
  const path = "test/fixtures/scenarios/shaped.ts";
  const described = await runCli(["describe", path], { FIELDTEST_HOME: home });
  t.equal(described.code, 0, "describe works", { stderr: described.stderr });
  t.match(described.stdout, `run it:  npx fieldtest run ${path} --localhost`);
  const bad = await runCli(["run", path, "--localhost", "--param", "nodes=2"], { FIELDTEST_HOME: home });
  t.equal(bad.code, 2);
  t.match(bad.stderr, `(fieldtest describe ${path})`);
});
