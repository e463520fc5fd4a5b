// The ao Scheduler Unit cluster of its guide: N scheduler units and a router in front of them,
// every node with its own PostgreSQL 15 and a database `su` that the node migrates at start,
// the secret files .wallet.json and .schedulers.json written 0600. Units start first, then the
// router with their list; a unit is added by updating the list and restarting the router. The
// su stand-in (Python 3) is in scenarios/su-cluster/.
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineScenario, z, type Agent, type Cloud, type Daemon } from "fieldtest";
import { copyStandIns } from "./lib/stand-ins.ts";
import { recordFault } from "./lib/record-fault.ts";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "su-cluster");
const PG_BIN = "/usr/lib/postgresql/15/bin";
const PG_DATA = "/var/lib/postgresql/su-data";
const MAX_UNITS = 4;

const params = z.object({
  units: z.number().int().min(1).max(MAX_UNITS, `at most ${MAX_UNITS} units: each is an agent with its own PostgreSQL`).default(2).describe("scheduler units started before the router"),
  added_units: z.number().int().min(1).max(2).default(1).describe("units added later: list updated, router restarted"),
  processes: z.number().int().min(2).max(50).default(6).describe("processes whose messages go through the router at first"),
  messages: z.number().int().min(1).max(50).default(4).describe("messages per process in each round"),
});
type Params = z.output<typeof params>;

/** One answer of the router: acknowledged (a nonce) or failed. */
export interface Sent {
  process: string;
  payload: string;
  status: number;
  nonce?: number;
  unit?: string;
}

/** What the run saw, per check. */
export interface SuRecord {
  /** Every message sent, in order. */
  sent: Sent[];
  /** Unit URL → its database's rows (process, nonce, payload), read after recovery. */
  stored: Record<string, Array<{ process: string; nonce: number; payload: string }>>;
  /** Processes and their unit before the unit was added; the processes made after it. */
  before: Record<string, string>;
  added: { units: string[]; newProcesses: string[] };
  /** The unit whose Postgres was killed, and the answers during the outage. */
  outage: { unit: string; sent: Sent[] };
  secrets: { modes: Record<string, string>; leakedIn: string[] };
}

export function checkSuCluster(r: SuRecord): string[] {
  const problems: string[] = [];
  const acked = r.sent.filter((s) => s.status === 200);
  const unitOf = new Map<string, Set<string>>();
  for (const s of acked) unitOf.set(s.process, (unitOf.get(s.process) ?? new Set()).add(s.unit ?? "?"));
  for (const [process, units] of unitOf) if (units.size !== 1) problems.push(`process ${process} landed on ${units.size} units: ${[...units].join(", ")}`);
  const rowsOf = new Map<string, Array<{ unit: string; nonce: number; payload: string }>>();
  for (const [unit, rows] of Object.entries(r.stored)) for (const row of rows) rowsOf.set(row.process, [...(rowsOf.get(row.process) ?? []), { unit, nonce: row.nonce, payload: row.payload }]);
  for (const process of unitOf.keys()) {
    const rows = (rowsOf.get(process) ?? []).sort((a, b) => a.nonce - b.nonce);
    if (new Set(rows.map((row) => row.unit)).size > 1) problems.push(`process ${process} is stored on several units`);
    rows.forEach((row, i) => {
      if (row.nonce !== i) problems.push(`process ${process}: nonce ${row.nonce} where ${i} was due (a gap)`);
    });
    const ackedHere = acked.filter((s) => s.process === process);
    for (const s of ackedHere) {
      const row = rows.find((candidate) => candidate.nonce === s.nonce);
      if (!row || row.payload !== s.payload) problems.push(`process ${process}: acknowledged message ${s.payload} (nonce ${s.nonce}) is not in its unit's database`);
    }
    const order = ackedHere.map((s) => s.nonce ?? -1);
    if (order.some((nonce, i) => i > 0 && nonce <= order[i - 1]!)) problems.push(`process ${process}: nonces ${order.join(",")} are not in the order the messages were sent`);
  }
  for (const [process, unit] of Object.entries(r.before)) {
    const now = unitOf.get(process);
    if (now && !now.has(unit)) problems.push(`process ${process} moved from ${unit} after the router restart`);
  }
  const onAdded = r.added.newProcesses.filter((p) => [...(unitOf.get(p) ?? [])].some((u) => r.added.units.includes(u)));
  if (onAdded.length === 0) problems.push(`no new process went to the added unit(s) ${r.added.units.join(", ")}`);
  const failed = new Set(r.outage.sent.filter((s) => s.status !== 200).map((s) => s.process));
  const ofUnit = new Set([...unitOf].filter(([, units]) => units.has(r.outage.unit)).map(([process]) => process));
  for (const p of ofUnit) if (!failed.has(p)) problems.push(`process ${p} of ${r.outage.unit} did not fail while its Postgres was down`);
  for (const p of failed) if (!ofUnit.has(p)) problems.push(`process ${p}, not on ${r.outage.unit}, failed during its outage`);
  for (const [file, mode] of Object.entries(r.secrets.modes)) if (mode !== "600") problems.push(`${file} has mode ${mode}, not 600`);
  for (const where of r.secrets.leakedIn) problems.push(`the wallet's secret appeared in ${where}`);
  return problems;
}

interface Node {
  agent: Agent;
  port: number;
  url: string;
  pgPort: number;
  postgres?: Daemon;
  su?: Daemon;
}

/**
 * The fault is a killed process, not a lost machine: the kernel keeps what Postgres wrote, so
 * fsync is off (the agents share one disk with the rest of the machine). Commits still precede
 * every acknowledgement, which is what the recovery check is about.
 */
const POSTGRES_SETTINGS = ["listen_addresses=127.0.0.1", "fsync=off", "log_min_messages=warning", "log_checkpoints=off"];

async function startPostgres(node: Node): Promise<void> {
  node.postgres = await node.agent.spawn([`${PG_BIN}/postgres`, "-D", PG_DATA, "-p", String(node.pgPort), "-k", "/tmp", ...POSTGRES_SETTINGS.flatMap((s) => ["-c", s])], { name: "postgres", user: "postgres", cwd: "/tmp" });
  // Listening is not ready: after a crash Postgres replays its WAL before it accepts connections.
  await node.agent.exec(`until ${PG_BIN}/pg_isready -q -h 127.0.0.1 -p ${node.pgPort}; do sleep 0.2; done`, { timeoutMs: 60_000 });
}

/** A node's own PostgreSQL 15 with an empty database `su`, as the guide requires before the first deployment. */
async function preparePostgres(node: Node): Promise<void> {
  await node.agent.exec(`rm -rf ${PG_DATA} && install -d -o postgres ${PG_DATA} && cd /tmp && runuser -u postgres -- ${PG_BIN}/initdb --no-sync -D ${PG_DATA} -A trust -U postgres >/dev/null`);
  await startPostgres(node);
  await node.agent.exec(["runuser", "-u", "postgres", "--", `${PG_BIN}/createdb`, "-h", "127.0.0.1", "-p", String(node.pgPort), "su"], { cwd: "/tmp" });
}

async function startSu(node: Node, mode: "su" | "router"): Promise<void> {
  node.su = await node.agent.spawn(["python3", "su-cluster/su.py", mode, String(node.port)], {
    name: mode,
    env: {
      MODE: mode,
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${node.pgPort}/su`,
      SU_WALLET_PATH: "/root/su-cluster/.wallet.json",
      SCHEDULER_LIST_PATH: mode === "router" ? "/root/su-cluster/.schedulers.json" : "",
      DB_WRITE_CONNECTIONS: "10",
      DB_READ_CONNECTIONS: "10",
      USE_DISK: "false",
      SU_URL: node.url,
    },
  });
  await node.agent.waitForPort(node.port, { timeoutMs: 30_000 });
}

async function storedRows(node: Node): Promise<Array<{ process: string; nonce: number; payload: string }>> {
  const sql = "SELECT process_id, nonce, payload FROM messages ORDER BY 1, 2";
  const { stdout } = await node.agent.exec(["psql", "-At", "-F", "\t", "-h", "127.0.0.1", "-p", String(node.pgPort), "-U", "postgres", "-d", "su", "-c", sql]);
  return stdout.split("\n").filter(Boolean).map((line) => {
    const [process, nonce, payload] = line.split("\t");
    return { process: process!, nonce: Number(nonce), payload: payload! };
  });
}

/**
 * The run's one fault: SIGKILL to a unit's PostgreSQL (its whole process group), recorded in the
 * run's history; the scenario starts it again.
 */
async function killPostgres(cloud: Cloud, node: Node): Promise<void> {
  recordFault(cloud, { kind: "kill", target: `${node.agent.name}/postgres`, expected: "failed requests for exactly its processes, nothing acknowledged lost after its restart" });
  await node.postgres!.kill("SIGKILL");
  await node.postgres!.exited;
}

export default defineScenario({
  name: "su-cluster",
  description:
    "ao's Scheduler Unit cluster: N units and one router (su stand-in, Python 3), every node with its own Debian PostgreSQL 15 and a database su migrated at start, .wallet.json and .schedulers.json written 0600, the guide's environment (MODE, DATABASE_URL, SU_WALLET_PATH, SCHEDULER_LIST_PATH, …). Units start first, then the router; then a unit is added and one unit's Postgres is killed.",
  invariants: [
    "every process's messages land on one unit, with nonces 0, 1, 2, … in the order sent (no gaps), stored in that unit's Postgres",
    "after adding a unit (list updated, router restarted) new processes use it and old processes keep their unit",
    "while a unit's Postgres is down, requests fail for exactly that unit's processes; after its restart nothing acknowledged is lost",
    ".wallet.json and .schedulers.json are mode 0600 and the wallet's secret appears in no log",
  ],
  params,
  fleet: (p: Params) => ({
    router: { count: 1, image: "fleet", shape: { cores: 1, ramGb: 1 } },
    unit: { count: p.units + p.added_units, image: "fleet", shape: { cores: 1, ramGb: 1 } },
  }),
  async run(cloud, p) {
    const node = (agent: Agent): Node => {
      const port = agent.nextPort();
      return { agent, port, url: `http://${agent.internalHost}:${port}`, pgPort: agent.nextPort() };
    };
    const [routerAgent] = cloud.group("router");
    const router = node(routerAgent!);
    const units = cloud.group("unit").map(node);
    const first = units.slice(0, p.units);
    const added = units.slice(p.units);
    const nameOf = (url: string) => units.find((u) => u.url === url)?.agent.name ?? url;
    const walletSecret = randomBytes(24).toString("base64url");
    const wallet = JSON.stringify({ kty: "RSA", e: "AQAB", n: randomBytes(32).toString("base64url"), d: walletSecret });

    const all = [router, ...units];
    await Promise.all(
      all.map(async (n) => {
        await copyStandIns(n.agent, HERE, "su-cluster");
        // All nodes share one wallet, as the guide says.
        await n.agent.writeFile("/root/su-cluster/.wallet.json", wallet, { mode: 0o600 });
        await preparePostgres(n);
      }),
    );
    const writeList = (list: Node[]) => router.agent.writeFile("/root/su-cluster/.schedulers.json", JSON.stringify(list.map((u) => ({ url: u.url })), null, 2), { mode: 0o600 });
    await Promise.all(first.map((u) => startSu(u, "su")));
    await writeList(first);
    await startSu(router, "router");
    cloud.log(`router ${router.url} in front of ${first.map((u) => u.agent.name).join(", ")}`);

    const sent: Sent[] = [];
    let counter = 0;
    const send = async (process: string): Promise<Sent> => {
      const payload = `m${++counter}`;
      const result = await router.agent.exec(["curl", "-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", JSON.stringify({ process, payload }), `http://127.0.0.1:${router.port}/message`], { allowFailure: true });
      const [body, code] = result.stdout.split(/\n(?=\d+$)/);
      const answer = (() => {
        try {
          return JSON.parse(body ?? "{}") as { nonce?: number; unit?: string };
        } catch {
          return {};
        }
      })();
      const entry: Sent = { process, payload, status: Number(code ?? 0), ...(answer.nonce !== undefined ? { nonce: answer.nonce } : {}), ...(answer.unit ? { unit: answer.unit } : {}) };
      sent.push(entry);
      cloud.pushMetric(entry.status === 200 ? "su_messages_acked_total" : "su_requests_failed_total", 1, { type: "counter", help: entry.status === 200 ? "messages acknowledged by a unit" : "requests the router answered with an error", labels: { unit: nameOf(entry.unit ?? "none") } });
      return entry;
    };
    // Processes in parallel, each one's messages in order: the order the nonces must follow.
    const round = (processes: string[], count: number) => Promise.all(processes.map(async (process) => {
      for (let i = 0; i < count; i++) await send(process);
    }));

    const oldProcesses = Array.from({ length: p.processes }, (_, i) => `process-${i + 1}`);
    await round(oldProcesses, p.messages);
    const before = Object.fromEntries(oldProcesses.map((process) => [process, sent.find((s) => s.process === process && s.status === 200)?.unit ?? "none"]));

    await Promise.all(added.map((u) => startSu(u, "su")));
    await writeList(units);
    await router.su!.stop();
    await startSu(router, "router");
    cloud.log(`added ${added.map((u) => u.agent.name).join(", ")}; router restarted with ${units.length} units`);
    cloud.pushMetric("su_units", units.length, { help: "units in the router's list" });
    const newProcesses = Array.from({ length: added.length * 2 }, (_, i) => `process-new-${i + 1}`);
    await round([...newProcesses, ...oldProcesses], p.messages);

    const victim = first[0]!;
    await killPostgres(cloud, victim);
    const outageStart = sent.length;
    await round([...oldProcesses, ...newProcesses], 1);
    const outage = sent.slice(outageStart);
    await startPostgres(victim);
    cloud.log(`${victim.agent.name}'s Postgres restarted; ${outage.filter((s) => s.status !== 200).length} request(s) failed during the outage`);
    await round([...oldProcesses, ...newProcesses], 1);

    const stored = Object.fromEntries(await Promise.all(units.map(async (u) => [u.url, await storedRows(u)] as const)));
    const modes: Record<string, string> = {};
    for (const n of all) modes[`${n.agent.name}:.wallet.json`] = (await n.agent.exec(["stat", "-c", "%a", "/root/su-cluster/.wallet.json"])).stdout.trim();
    modes[`${router.agent.name}:.schedulers.json`] = (await router.agent.exec(["stat", "-c", "%a", "/root/su-cluster/.schedulers.json"])).stdout.trim();
    const leakedIn = all.flatMap((n) => n.agent.runningDaemons().filter((d) => d.recentLines().some((line) => line.includes(walletSecret))).map((d) => `${n.agent.name}/${d.name}`));
    const record: SuRecord = { sent, stored, before, added: { units: added.map((u) => u.url), newProcesses }, outage: { unit: victim.url, sent: outage }, secrets: { modes, leakedIn } };
    cloud.log(`${sent.filter((s) => s.status === 200).length} of ${sent.length} messages acknowledged across ${units.length} units`);
    const problems = checkSuCluster(record);
    if (problems.length) throw new Error(`su-cluster invariants broken:\n  ${problems.join("\n  ")}`);
    cloud.log("su-cluster: every invariant holds");
  },
});
