// The fuzz-farm reference fleet: the scenario passes on localhost through the CLI, bad
// parameters exit 2 naming them, and its invariant checks fail on a broken record.
import t from "tap";
import { checkFuzzFarm, type FuzzRecord } from "../scenarios/fuzz-farm.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, runHistory } from "./helpers/fleet.ts";

const BUG = 'Traceback (most recent call last):\n  File "sim.py", line 30, in check_replicas_agree\nAssertionError: replicas diverged after view change';
const kill = { type: "restart", agent: "runner-001", daemon: "vopr-0", restart: 3, lastExit: { code: null, signal: "SIGKILL" }, delayMs: 100, at: "" } as const;
const good = (): FuzzRecord => ({
  voprs: 2,
  starts: [
    { vopr: 0, branch: "main", commit: "old", at: 1 },
    { vopr: 1, branch: "vopr/new-feature", commit: "b1", at: 1 },
    { vopr: 0, branch: "main", commit: "new", at: 3 },
    { vopr: 0, branch: "main", commit: "new", at: 6 },
  ],
  reports: 3,
  duplicates: 2,
  issues: [{ fingerprint: "f1", seed: 7, commit: "old", branch: "main", stack_trace: BUG }],
  reproduces: { f1: true },
  mainPush: { commit: "new", at: 2 },
  kill: { vopr: 0, at: 5, restarts: [kill] },
});

t.test("the checks accept a farm that behaved, and name each broken invariant", async (t) => {
  t.same(checkFuzzFarm(good()), []);
  const twice = good();
  twice.issues.push({ ...twice.issues[0]!, fingerprint: "f2", seed: 8 });
  twice.reproduces.f2 = true;
  t.match(checkFuzzFarm(twice), [/the planted bug was filed 2 times, not exactly once/]);
  t.match(checkFuzzFarm({ ...good(), reproduces: { f1: false } }), [/seed 7 at old does not reproduce it/]);
  t.match(checkFuzzFarm({ ...good(), starts: good().starts.map((s) => (s.vopr === 1 ? { ...s, branch: "wip" } : s)) }), [/vopr 1 tested wip, not vopr\/new-feature/]);
  t.match(checkFuzzFarm({ ...good(), starts: good().starts.filter((s) => s.commit !== "new").concat({ vopr: 0, branch: "main", commit: "old", at: 6 }) }), [/pushed to main was never tested/]);
  t.match(checkFuzzFarm({ ...good(), kill: { vopr: 0, at: 5, restarts: [{ ...kill, lastExit: { code: 0, signal: undefined } }] } }), [/no restart after a KILL/]);
});

const docker = await requireDocker(t);
if (docker) {
  t.test("fieldtest run fuzz-farm --localhost passes", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("fuzz");
    cleanupNamespace(t, docker, namespace);
    const run = await runCli(["run", "fuzz-farm", "--localhost", "--namespace", namespace], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, "the scenario passes", { stderr: run.stderr.slice(-3000) });
    t.match(run.stdout, /issue-\d+\.json \(\w+\): seed \d+ .*replayed by the scenario: reproduces/);
    t.match(run.stdout, "fuzz-farm: every invariant holds");
    const faults = (await runHistory(home, namespace)).filter((entry) => entry.kind === "event" && entry.type === "fault");
    t.match(faults, [{ data: { kind: "kill", target: /^runner-\d{3}\// } }], "the run's one fault is in its history");
  });

  t.test("a runner with fewer than 3 cores is refused, naming runner_cores, before anything is made", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("fuzzbad");
    const run = await runCli(["run", "fuzz-farm", "--localhost", "--namespace", namespace, "--param", "runner_cores=2"], { FIELDTEST_HOME: home });
    t.equal(run.code, 2);
    t.match(run.stderr, /parameter runner_cores = 2: a runner needs at least 3 cores/);
    t.equal(await containerCount(docker, namespace), 0);
  });
}
