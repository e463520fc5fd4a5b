// The metrics-ingest reference fleet: the scenario passes on localhost through the CLI (with
// a user's auth file), a missing auth file exits 2 naming it, and the invariant checks fail on
// a broken record.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { checkMetricsIngest, expectedPath, type IngestRecord } from "../scenarios/metrics-ingest.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, runHistory } from "./helpers/fleet.ts";

// 2026-12-01T12:00:00Z
const line = (host: string, seq: number) => `v1,${host}-${seq},1796126400.000,${host},0.5`;
const good = (): IngestRecord => ({
  nodes: { "node-001": { cluster: "mlx", made: [line("node-001", 0), line("node-001", 1)], acked: ["node-001-0", "node-001-1"] } },
  files: [{ path: "mlx/2026/12/01/node-001.csv", lines: [line("node-001", 0), line("node-001", 1)] }],
  wrongPassword: { status: 401, intruderFiles: [] },
  upgrade: { versionAfter: "2" },
  crash: { pidBefore: 10, pidAfter: 20, restarts: 1 },
  reports: { mlx: 2 },
});

t.test("the checks accept an ingest that behaved, and name each broken invariant", async (t) => {
  t.equal(expectedPath("mlx", line("node-001", 0)), "mlx/2026/12/01/node-001.csv");
  t.same(checkMetricsIngest(good()), []);
  const lost = good();
  lost.nodes["node-001"]!.acked = ["node-001-0"];
  lost.files[0]!.lines.pop();
  lost.reports.mlx = 1;
  t.match(checkMetricsIngest(lost), [/node-001: sample node-001-1 was never accepted \(lost\)/]);
  const doubled = good();
  doubled.files[0]!.lines.push(line("node-001", 1));
  doubled.reports.mlx = 3;
  t.match(checkMetricsIngest(doubled), [/sample node-001-1 is on disk 2 times, not once/]);
  const misplaced = good();
  misplaced.files[0]!.path = "fox/2026/12/01/node-001.csv";
  t.match(checkMetricsIngest(misplaced), [/is in fox\/2026\/12\/01\/node-001.csv, not mlx\/2026\/12\/01\/node-001.csv/]);
  t.match(checkMetricsIngest({ ...good(), wrongPassword: { status: 200, intruderFiles: ["intruder.example/2026/12/01/intruder.csv"] } }), [/got status 200, not 401/, /a refused request wrote/]);
  t.match(checkMetricsIngest({ ...good(), crash: { pidBefore: 10, pidAfter: 10, restarts: 0 } }), [/not restarted by its supervision/, /still shows pid 10/]);
});

const docker = await requireDocker(t);
if (docker) {
  t.test("fieldtest run metrics-ingest --localhost --param auth_file=… passes", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("sonar");
    cleanupNamespace(t, docker, namespace);
    const auth = join(home, "exfil-auth.txt");
    await writeFile(auth, "sonar:test-password-123\n", { mode: 0o600 });
    const run = await runCli(["run", "metrics-ingest", "--localhost", "--namespace", namespace, "--param", `auth_file=${auth}`], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, "the scenario passes", { stderr: run.stderr.slice(-3000) });
    t.match(run.stdout, "a wrong password got status 401");
    t.match(run.stdout, /infiltrate 2 up/);
    t.match(run.stdout, "metrics-ingest: every invariant holds");
    const faults = (await runHistory(home, namespace)).filter((entry) => entry.kind === "event" && entry.type === "fault");
    t.match(faults, [{ data: { kind: "kill", target: /^server-001\// } }], "the run's one fault is in its history");
  });

  t.test("a missing auth file is refused, naming auth_file, before anything is made", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("sonarbad");
    const run = await runCli(["run", "metrics-ingest", "--localhost", "--namespace", namespace, "--param", `auth_file=${join(home, "missing.txt")}`], { FIELDTEST_HOME: home });
    t.equal(run.code, 2);
    t.match(run.stderr, /parameter auth_file = "[^"]+missing\.txt": no such file/);
    t.equal(await containerCount(docker, namespace), 0);
  });
}
