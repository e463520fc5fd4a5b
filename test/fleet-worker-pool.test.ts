// The worker-pool reference fleet: the scenario passes on localhost through the CLI, a plan
// over a quota (or a quota of 0) exits 2 naming it, and its invariant checks fail on a broken record.
import t, { type Test } from "tap";
import { checkWorkerPool, type PoolRecord } from "../scenarios/worker-pool.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, runHistory } from "./helpers/fleet.ts";

const TAG = "pool";
const good = (): PoolRecord => ({
  tag: TAG,
  jobs: [
    { id: "large", cores: 4, ram_gb: 8, seconds: 1 },
    { id: "small", cores: 1, ram_gb: 2, seconds: 1 },
  ],
  machines: {
    "m5-xlarge-001": { type: "m5.xlarge", tag: TAG, exited: true, ledger: [{ event: "started", id: "large", at: 1 }, { event: "done", id: "large", at: 5 }, { event: "shutdown", at: 6 }] },
    "t2-medium-001": { type: "t2.medium", tag: TAG, exited: true, ledger: [{ event: "started", id: "small", at: 1 }, { event: "shutdown", at: 6 }] },
    "foreign-001": { type: "t2.medium", tag: "other", exited: false, ledger: [] },
  },
  results: { large: { machine: "m5-xlarge-001", done_at: 5 }, small: { machine: "t2-medium-001", done_at: 4 } },
  serverRestart: { stoppedAt: 2, startedAt: 3, runningAtStop: ["large", "small"] },
  shutDown: ["m5-xlarge-001", "t2-medium-001"],
});

t.test("the checks accept a pool that behaved, and name each broken invariant", async (t) => {
  t.same(checkWorkerPool(good()), []);
  const onSmall = good();
  onSmall.machines["t2-medium-001"]!.ledger.push({ event: "started", id: "large", at: 2 });
  onSmall.machines["m5-xlarge-001"]!.ledger = onSmall.machines["m5-xlarge-001"]!.ledger.filter((e) => e.id !== "large");
  onSmall.results.large = { machine: "t2-medium-001", done_at: 5 };
  t.match(checkWorkerPool(onSmall), [/job large \(4 cores, 8 GB\) ran on t2-medium-001, a t2.medium that does not fit it/]);
  const twice = good();
  twice.machines["m5-xlarge-001"]!.ledger.push({ event: "started", id: "small", at: 5 });
  t.match(checkWorkerPool(twice), [/job small ran 2 times/]);
  t.match(checkWorkerPool({ ...good(), results: { ...good().results, large: undefined } }), [/job large: no result reached the server/]);
  const foreignShut = good();
  foreignShut.shutDown.push("foreign-001");
  foreignShut.machines["foreign-001"]!.exited = true;
  t.match(checkWorkerPool(foreignShut), [/foreign-001 \(tag other\) was shut down though it lacks this pool's tag pool/, /foreign-001 of another pool \(tag other\) was shut down/]);
});

const docker = await requireDocker(t);
if (docker) {
  t.test("fieldtest run worker-pool --localhost passes", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("pool");
    cleanupNamespace(t, docker, namespace);
    const run = await runCli(["run", "worker-pool", "--localhost", "--namespace", namespace], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, "the scenario passes", { stderr: run.stderr.slice(-3000) });
    t.match(run.stdout, /6 jobs done; [1-9]\d* ran across the server restart; shut down m5-xlarge-001, t2-medium-001\n/);
    t.match(run.stdout, "worker-pool: every invariant holds");
    const faults = (await runHistory(home, namespace)).filter((entry) => entry.kind === "event" && entry.type === "fault");
    t.match(faults, [{ data: { kind: "restart", target: /^server-001\// } }], "the run's one fault is in its history");
  });

  const refused = async (t: Test, param: string, message: RegExp) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("poolbad");
    const run = await runCli(["run", "worker-pool", "--localhost", "--namespace", namespace, "--param", param], { FIELDTEST_HOME: home });
    t.equal(run.code, 2, "exit 2: bad input", { stderr: run.stderr });
    t.match(run.stderr, message);
    t.equal(await containerCount(docker, namespace), 0, "nothing was made");
  };
  t.test("a plan over max_cores is refused", (t) => refused(t, "max_cores=4", /parameter max_cores = 4: the plan boots 6 cores, over the quota of 4/));
  t.test("a plan over max_ram_gb is refused", (t) => refused(t, "max_ram_gb=16", /parameter max_ram_gb = 16: the plan boots 20 GB, over the quota of 16/));
  t.test("a quota of 0 workers is refused", (t) => refused(t, "max_workers=0", /parameter max_workers = 0: a quota of 0 workers boots nothing/));
}
