// The su-cluster reference fleet: the scenario passes on localhost through the CLI, a unit
// count over the cap exits 2 naming it, the wallet never reaches the run directory, and the
// invariant checks fail on a broken record.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { checkSuCluster, type SuRecord } from "../scenarios/su-cluster.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, runHistory } from "./helpers/fleet.ts";

const A = "http://u1";
const B = "http://u2";
const C = "http://u3";
const good = (): SuRecord => ({
  sent: [
    { process: "p1", payload: "m1", status: 200, nonce: 0, unit: A },
    { process: "p2", payload: "m2", status: 200, nonce: 0, unit: B },
    { process: "p1", payload: "m3", status: 200, nonce: 1, unit: A },
    { process: "pn", payload: "m4", status: 200, nonce: 0, unit: C },
    { process: "p1", payload: "m5", status: 503, unit: A },
    { process: "p2", payload: "m6", status: 200, nonce: 1, unit: B },
    { process: "p1", payload: "m7", status: 200, nonce: 2, unit: A },
  ],
  stored: {
    [A]: [{ process: "p1", nonce: 0, payload: "m1" }, { process: "p1", nonce: 1, payload: "m3" }, { process: "p1", nonce: 2, payload: "m7" }],
    [B]: [{ process: "p2", nonce: 0, payload: "m2" }, { process: "p2", nonce: 1, payload: "m6" }],
    [C]: [{ process: "pn", nonce: 0, payload: "m4" }],
  },
  before: { p1: A, p2: B },
  added: { units: [C], newProcesses: ["pn"] },
  outage: { unit: A, sent: [{ process: "p1", payload: "m5", status: 503, unit: A }, { process: "p2", payload: "m6", status: 200, nonce: 1, unit: B }] },
  secrets: { modes: { "router-001:.wallet.json": "600" }, leakedIn: [] },
});

t.test("the checks accept a cluster that behaved, and name each broken invariant", async (t) => {
  t.same(checkSuCluster(good()), []);
  const lost = good();
  lost.stored[A] = lost.stored[A]!.filter((row) => row.nonce !== 1);
  t.match(checkSuCluster(lost), [/process p1: nonce 2 where 1 was due/, /acknowledged message m3 \(nonce 1\) is not in its unit's database/]);
  const moved = good();
  moved.sent.push({ process: "p2", payload: "m8", status: 200, nonce: 2, unit: C });
  t.match(checkSuCluster(moved), [/process p2 landed on 2 units/]);
  const wideFailure = good();
  wideFailure.outage.sent[1] = { process: "p2", payload: "m6", status: 502, unit: B };
  t.match(checkSuCluster(wideFailure), [/process p2, not on http:\/\/u1, failed during its outage/]);
  t.match(checkSuCluster({ ...good(), secrets: { modes: { "unit-001:.wallet.json": "644" }, leakedIn: ["unit-001/su"] } }), [/mode 644, not 600/, /the wallet's secret appeared in unit-001\/su/]);
});

const docker = await requireDocker(t);
if (docker) {
  t.test("fieldtest run su-cluster --localhost passes and no secret reaches the run directory", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("su");
    cleanupNamespace(t, docker, namespace);
    const run = await runCli(["run", "su-cluster", "--localhost", "--namespace", namespace], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, "the scenario passes", { stderr: run.stderr.slice(-3000) });
    t.match(run.stdout, /unit-001's Postgres restarted; [1-9]\d* request\(s\) failed during the outage/);
    t.match(run.stdout, "su-cluster: every invariant holds");
    const faults = (await runHistory(home, namespace)).filter((entry) => entry.kind === "event" && entry.type === "fault");
    t.match(faults, [{ data: { kind: "kill", target: /^unit-\d{3}\/postgres$/ } }], "the run's one fault is in its history");
    const runs = join(home, "runs", namespace);
    const [runId] = await readdir(runs);
    for (const file of await readdir(join(runs, runId!), { recursive: true })) {
      const text = await readFile(join(runs, runId!, file), "utf8").catch(() => "");
      t.notMatch(text, /"d":"[A-Za-z0-9_-]{32}"/, `${file} holds no wallet`);
    }
  });

  t.test("a unit count over the cap is refused, naming units, before anything is made", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("subad");
    const run = await runCli(["run", "su-cluster", "--localhost", "--namespace", namespace, "--param", "units=9"], { FIELDTEST_HOME: home });
    t.equal(run.code, 2);
    t.match(run.stderr, /parameter units = 9: at most 4 units/);
    t.equal(await containerCount(docker, namespace), 0);
  });
}
