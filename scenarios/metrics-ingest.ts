// The metrics ingest of Sonar's server guide: an ingest server and the reporting nodes of
// several clusters. The server authenticates with a username:password file (0600), serves HTTP
// and HTTPS (a certificate made for the run with OpenSSL), answers GET /ping, and writes
// data/<cluster>/<year>/<month>/<day>/<hostname>.csv; reports run on a schedule of seconds
// standing for the guide's cron jobs. The stand-ins (Python 3) are in scenarios/metrics-ingest/.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineScenario, z, type Agent, type Cloud, type Daemon } from "fieldtest";
import { copyStandIns } from "./lib/stand-ins.ts";
import { recordFault } from "./lib/record-fault.ts";
import { until } from "./lib/until.ts";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "metrics-ingest");
const SONAR = "/root/sonar";
const CLUSTERS = ["mlx.hpc.example", "fox.hpc.example", "saga.hpc.example", "betzy.hpc.example"];

const params = z.object({
  nodes: z.number().int().min(1).max(8).default(2).describe("reporting nodes, spread over the clusters; even ones send over HTTPS, odd ones over HTTP"),
  clusters: z.number().int().min(1).max(CLUSTERS.length).default(2).describe("clusters the nodes belong to"),
  interval_s: z.number().min(0.2).max(10).default(0.5).describe("seconds between a node's samples (the guide's cron minutes)"),
  auth_file: z
    .string()
    .refine((path) => existsSync(path), "no such file: give a username:password file that exists, or leave auth_file out to make credentials for the run")
    .refine((path) => !existsSync(path) || /^[^:\s]+:\S+$/.test(readFileSync(path, "utf8").split("\n")[0]!.trim()), "its first line must be username:password")
    .optional()
    .describe("a local username:password file for the ingest server (default: credentials made for the run)"),
});
type Params = z.output<typeof params>;

export interface CsvFile {
  /** Path under data/: <cluster>/<yyyy>/<mm>/<dd>/<hostname>.csv */
  path: string;
  lines: string[];
}

export interface IngestRecord {
  /** Node → cluster, and the sample lines it made and the ids the server acknowledged. */
  nodes: Record<string, { cluster: string; made: string[]; acked: string[] }>;
  files: CsvFile[];
  wrongPassword: { status: number; intruderFiles: string[] };
  upgrade: { versionAfter: string };
  crash: { pidBefore: number; pidAfter: number; restarts: number };
  /** Cluster → the sample count of its last 5-minute report, made after the last sample. */
  reports: Record<string, number | undefined>;
}

/** Where a sample line belongs: its cluster, its timestamp's UTC day, its host. */
export function expectedPath(cluster: string, line: string): string {
  const [, , timestamp, hostname] = line.split(",");
  const day = new Date(Number(timestamp) * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${cluster}/${day.getUTCFullYear()}/${two(day.getUTCMonth() + 1)}/${two(day.getUTCDate())}/${hostname}.csv`;
}

export function checkMetricsIngest(r: IngestRecord): string[] {
  const problems: string[] = [];
  const where = new Map<string, string[]>();
  for (const file of r.files) for (const line of file.lines) where.set(line.split(",")[1]!, [...(where.get(line.split(",")[1]!) ?? []), file.path]);
  for (const [node, n] of Object.entries(r.nodes)) {
    const acked = new Set(n.acked);
    for (const line of n.made) {
      const id = line.split(",")[1]!;
      if (!acked.has(id)) problems.push(`${node}: sample ${id} was never accepted (lost)`);
      const paths = where.get(id) ?? [];
      if (acked.has(id) && paths.length !== 1) problems.push(`sample ${id} is on disk ${paths.length} times, not once`);
      const expected = expectedPath(n.cluster, line);
      if (paths.length && paths.some((path) => path !== expected)) problems.push(`sample ${id} is in ${paths.join(", ")}, not ${expected}`);
    }
    if (n.made.length === 0) problems.push(`${node} made no sample`);
  }
  if (r.wrongPassword.status !== 401) problems.push(`a wrong password got status ${r.wrongPassword.status}, not 401`);
  if (r.wrongPassword.intruderFiles.length) problems.push(`a refused request wrote ${r.wrongPassword.intruderFiles.join(", ")}`);
  if (r.upgrade.versionAfter !== "2") problems.push(`after the upgrade /ping says version ${r.upgrade.versionAfter}, not 2`);
  if (r.crash.restarts < 1) problems.push("the crashed server was not restarted by its supervision");
  if (r.crash.pidAfter === r.crash.pidBefore) problems.push(`/ping still shows pid ${r.crash.pidBefore} after the crash: the answer is not from a restarted server`);
  const clusters = new Set(Object.values(r.nodes).map((n) => n.cluster));
  for (const cluster of clusters) {
    const onDisk = r.files.filter((f) => f.path.startsWith(`${cluster}/`)).reduce((sum, f) => sum + f.lines.length, 0);
    if (r.reports[cluster] !== onDisk) problems.push(`the 5-minute report of ${cluster} counts ${r.reports[cluster] ?? "nothing"}, the data holds ${onDisk}`);
  }
  return problems;
}


interface Ping {
  version: string;
  pid: number;
  accepted: number;
}

/**
 * The run's one fault: the ingest server is killed with SIGKILL; its supervision (the restart
 * policy) must bring it back. Recorded in the run's history.
 */
async function crashServer(cloud: Cloud, server: Agent, daemon: Daemon): Promise<void> {
  recordFault(cloud, { kind: "kill", target: `${server.name}/${daemon.name}`, expected: "restarted by its policy, /ping answers again, no sample lost" });
  await daemon.kill("SIGKILL");
}

export default defineScenario({
  name: "metrics-ingest",
  description:
    "Sonar's ingest server (infiltrate stand-in) with a username:password file (0600), HTTP and HTTPS with a certificate made by OpenSSL for the run, GET /ping, samples into data/<cluster>/<yyyy>/<mm>/<dd>/<hostname>.csv, and reports on a schedule of seconds; reporting nodes (exfiltrate stand-in) of several clusters. The server is upgraded mid-run (SIGHUP, replace, start) and later crashes.",
  invariants: [
    "every accepted sample is in the file of its cluster, UTC day and host, exactly once",
    "a wrong password is refused (401) and writes nothing",
    "upgrading the ingest program mid-run (stop, replace, restart) loses no sample: nodes retry",
    "a crashed server is restarted by its supervision, and /ping (200) shows the new process",
    "each cluster's last 5-minute report counts exactly the samples on disk",
  ],
  params,
  fleet: (p: Params) => ({
    server: { count: 1, image: "fleet", shape: { cores: 1, ramGb: 1 } },
    node: { count: p.nodes, image: "fleet", shape: { cores: 0.5, ramGb: 0.5 } },
  }),
  async run(cloud, p) {
    const [server] = cloud.group("server");
    const nodes = cloud.group("node");
    const port = server!.nextPort();
    const tlsPort = server!.nextPort();
    const host = server!.internalHost;
    const credentials = p.auth_file ? readFileSync(p.auth_file, "utf8").split("\n")[0]!.trim() : `sonar:${randomBytes(12).toString("base64url")}`;
    const timeoutMs = 60_000;

    await Promise.all([server!, ...nodes].map((agent) => copyStandIns(agent, HERE, "metrics-ingest")));
    await server!.exec(`mkdir -p ${SONAR}/data ${SONAR}/reports ${SONAR}/bin && cp metrics-ingest/infiltrate.py metrics-ingest/json_http.py metrics-ingest/naicreport.py ${SONAR}/bin/`);
    await server!.writeFile("/root/.ssh/exfil-auth.txt", `${credentials}\n`, { mode: 0o600 });
    const san = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? `IP:${host}` : `DNS:${host}`;
    await server!.exec(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=sonar-ingest", "-addext", `subjectAltName=${san}`, "-keyout", `${SONAR}/key.pem`, "-out", `${SONAR}/cert.pem`]);
    await server!.exec(["chmod", "600", `${SONAR}/key.pem`]);
    const certificate = await server!.readFile(`${SONAR}/cert.pem`);

    const startServer = async () => {
      // `exec`: the server itself leads the daemon's process group, so the upgrade's HUP reaches it alone.
      const daemon = await server!.spawn(
        `exec python3 ${SONAR}/bin/infiltrate.py -data-path ${SONAR}/data -port ${port} -tls-port ${tlsPort} -auth-file /root/.ssh/exfil-auth.txt -cert ${SONAR}/cert.pem -key ${SONAR}/key.pem`,
        // Supervision: the guide asks for something that restarts a crashed server.
        { name: "infiltrate", restart: "on-failure", backoff: { initialMs: 200, maxMs: 1000 } },
      );
      await server!.waitForHttp(`http://127.0.0.1:${port}/ping`, { timeoutMs: 30_000 });
      return daemon;
    };
    let infiltrate = await startServer();
    await server!.spawn(["python3", `${SONAR}/bin/naicreport.py`, `${SONAR}/data`, `${SONAR}/reports`], { name: "naicreport" });
    const ping = async (): Promise<Ping> => JSON.parse((await server!.exec(["curl", "-sf", "--cacert", `${SONAR}/cert.pem`, `https://${host}:${tlsPort}/ping`])).stdout) as Ping;

    const clusterOf = (i: number) => CLUSTERS[i % p.clusters]!;
    const reporters = await Promise.all(
      nodes.map(async (node, i) => {
        await node.writeFile("/root/.ssh/exfil-auth.txt", `${credentials}\n`, { mode: 0o600 });
        await node.writeFile("/root/sonar/cert.pem", certificate);
        const https = i % 2 === 0;
        const daemon = await node.spawn(
          ["python3", "metrics-ingest/exfiltrate.py", "--server", https ? `https://${host}:${tlsPort}` : `http://${host}:${port}`, ...(https ? ["--cacert", "/root/sonar/cert.pem"] : []), "--cluster", clusterOf(i), "--hostname", node.name, "--auth-file", "/root/.ssh/exfil-auth.txt", "--interval", String(p.interval_s), "--made", "sonar/made.jsonl", "--acked", "sonar/acked.txt", "--stop-file", "sonar/stop"],
          { name: "exfiltrate" },
        );
        return { node, daemon, cluster: clusterOf(i) };
      }),
    );
    const watch = async (minimum: number) => {
      const state = await ping();
      cloud.pushMetric("ingest_samples_accepted", state.accepted, { help: "samples the running ingest server accepted since it started" });
      return state.accepted >= minimum ? state : undefined;
    };
    await until("samples from every node", timeoutMs, () => watch(nodes.length * 2));

    const [user] = credentials.split(":");
    const wrong = await nodes[0]!.exec(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "/root/sonar/cert.pem", "-u", `${user}:not-the-password`, "--data-binary", `v1,intruder-0,${Date.now() / 1000},intruder,0.0\n`, `https://${host}:${tlsPort}/sonar-freecsv?cluster=intruder.example`], { allowFailure: true });
    cloud.log(`a wrong password got status ${wrong.stdout}`);

    // The upgrade as the guide does it: HUP, replace the program (atomically), start it again.
    cloud.log("upgrading infiltrate 1 → 2");
    await server!.exec(`for f in /run/fieldtest/daemons/infiltrate.*.pid; do kill -HUP -- -"$(cat "$f")"; done`);
    const stopped = infiltrate;
    await until("infiltrate to shut down on HUP", timeoutMs, async () => (stopped.running ? undefined : true));
    await server!.exec(`sed 's/^VERSION = "1"/VERSION = "2"/' metrics-ingest/infiltrate.py > ${SONAR}/bin/infiltrate.py.new && mv ${SONAR}/bin/infiltrate.py.new ${SONAR}/bin/infiltrate.py`);
    // Nodes keep sampling while the server is away; their samples wait for it.
    await new Promise((resolve) => setTimeout(resolve, p.interval_s * 3000));
    infiltrate = await startServer();
    const upgraded = await ping();
    cloud.log(`infiltrate ${upgraded.version} up (pid ${upgraded.pid})`);
    await until("samples after the upgrade", timeoutMs, () => watch(nodes.length));

    await crashServer(cloud, server!, infiltrate);
    const back = await until("the restarted server's /ping", timeoutMs, async () => {
      const status = await server!.waitForHttp(`http://127.0.0.1:${port}/ping`, { timeoutMs: 30_000 });
      const state = await ping();
      return status === 200 && state.pid !== upgraded.pid ? state : undefined;
    });
    cloud.log(`/ping after the crash: pid ${back.pid}, restarts by policy ${infiltrate.restartCount}`);
    cloud.pushMetric("ingest_server_restarts", infiltrate.restartCount, { help: "ingest server restarts by its supervision" });
    await until("samples after the crash", timeoutMs, () => watch(nodes.length));

    await Promise.all(reporters.map((r) => r.node.exec(["touch", "sonar/stop"])));
    await Promise.all(reporters.map((r) => r.daemon.exited));
    const endedAt = Number((await server!.exec(["date", "+%s.%N"])).stdout.trim());
    const reports = await until("a 5-minute report of every cluster made after the last sample", timeoutMs, async () => {
      const text = (await server!.exec(`cat ${SONAR}/reports/*/5min.json 2>/dev/null | tr '\\n' ' '`, { allowFailure: true })).stdout;
      const all = [...text.matchAll(/\{[^}]*\}/g)].map((m) => JSON.parse(m[0]) as { cluster: string; samples: number; generated_at: number });
      const fresh = all.filter((rep) => rep.generated_at > endedAt + 0.5);
      return fresh.length >= new Set(reporters.map((r) => r.cluster)).size ? Object.fromEntries(fresh.map((rep) => [rep.cluster, rep.samples])) : undefined;
    });

    const listing = (await server!.exec(`cd ${SONAR}/data && find . -name '*.csv' | sort | while read -r f; do echo "#${"$"}{f#./}"; cat "$f"; done`)).stdout;
    const files: CsvFile[] = [];
    for (const line of listing.split("\n").filter(Boolean)) {
      if (line.startsWith("#")) files.push({ path: line.slice(1), lines: [] });
      else files.at(-1)!.lines.push(line);
    }
    const record: IngestRecord = {
      nodes: Object.fromEntries(
        await Promise.all(
          reporters.map(async (r) => {
            const made = (await r.node.readFile("sonar/made.jsonl")).split("\n").filter(Boolean).map((line) => (JSON.parse(line) as { line: string }).line);
            const acked = (await r.node.readFile("sonar/acked.txt")).split("\n").filter(Boolean);
            return [r.node.name, { cluster: r.cluster, made, acked }] as const;
          }),
        ),
      ),
      files,
      wrongPassword: { status: Number(wrong.stdout), intruderFiles: files.filter((f) => f.path.startsWith("intruder.example/") || f.path.endsWith("/intruder.csv")).map((f) => f.path) },
      upgrade: { versionAfter: back.version },
      crash: { pidBefore: upgraded.pid, pidAfter: back.pid, restarts: infiltrate.restartCount },
      reports,
    };
    const total = files.reduce((sum, f) => sum + f.lines.length, 0);
    cloud.pushMetric("ingest_samples_on_disk", total, { help: "samples in the data files" });
    cloud.log(`${total} samples in ${files.length} files from ${nodes.length} nodes of ${new Set(reporters.map((r) => r.cluster)).size} clusters`);
    const problems = checkMetricsIngest(record);
    if (problems.length) throw new Error(`metrics-ingest invariants broken:\n  ${problems.join("\n  ")}`);
    cloud.log("metrics-ingest: every invariant holds");
  },
});
