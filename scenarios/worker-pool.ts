// The CI worker pool of TestLooper's server guide: a server with Redis, and workers booted in
// shapes taken from an instance-type table, within max_workers, max_cores and max_ram_gb. Jobs
// queue on the server and run on workers that fit them. The stand-ins (Python 3, Debian's
// redis-server) are in scenarios/worker-pool/.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineScenario, z, type Agent, type Cloud, type Daemon } from "fieldtest";
import { copyStandIns } from "./lib/stand-ins.ts";
import { recordFault } from "./lib/record-fault.ts";
import { until } from "./lib/until.ts";

const HERE = join(dirname(fileURLToPath(import.meta.url)), "worker-pool");

/** The guide's instance_types, as `{cores, ram_gb} → type`; group names are the types, dots made dashes. */
export const INSTANCE_TYPES = [
  { cores: 2, ram_gb: 4, type: "t2.medium" },
  { cores: 4, ram_gb: 16, type: "m5.xlarge" },
] as const;
const SMALL_JOB = { cores: 1, ram_gb: 2 };
const LARGE_JOB = { cores: 4, ram_gb: 8 };

const params = z
  .object({
    small_workers: z.number().int().min(0).max(4).default(1).describe("t2.medium workers (2 cores, 4 GB)"),
    large_workers: z.number().int().min(1).max(4).default(1).describe("m5.xlarge workers (4 cores, 16 GB); large jobs need one"),
    max_workers: z.number().int().min(1, "a quota of 0 workers boots nothing").default(8).describe("most workers booted at once"),
    max_cores: z.number().int().min(1, "a quota of 0 cores boots nothing").default(100).describe("most worker cores booted at once"),
    max_ram_gb: z.number().int().min(1, "a quota of 0 GB boots nothing").default(1000).describe("most worker RAM booted at once"),
    jobs: z.number().int().min(2).max(40).default(6).describe("test jobs, half small (1 core, 2 GB), half large (4 cores, 8 GB)"),
    job_seconds: z.number().min(1).max(30).default(4).describe("how long a job runs"),
    worker_tag: z.string().regex(/^[a-z][a-z0-9-]*$/).default("test-looper-worker-dev").describe("the pool's worker_name tag: only machines with it are shut down"),
  })
  .superRefine((p, ctx) => {
    const plan = planPool(p);
    if (plan.workers > p.max_workers) ctx.addIssue({ code: "custom", path: ["max_workers"], message: `the plan boots ${plan.workers} workers, over the quota of ${p.max_workers}` });
    if (plan.cores > p.max_cores) ctx.addIssue({ code: "custom", path: ["max_cores"], message: `the plan boots ${plan.cores} cores, over the quota of ${p.max_cores}` });
    if (plan.ramGb > p.max_ram_gb) ctx.addIssue({ code: "custom", path: ["max_ram_gb"], message: `the plan boots ${plan.ramGb} GB, over the quota of ${p.max_ram_gb}` });
  });
type Params = z.output<typeof params>;

const groupOf = (type: string) => type.replace(/\./g, "-");

/** The machines the pool boots, per type, and their totals (what the quotas bound). */
export function planPool(p: Pick<Params, "small_workers" | "large_workers">): { byType: Array<{ type: string; cores: number; ram_gb: number; count: number }>; workers: number; cores: number; ramGb: number } {
  const byType = [
    { ...INSTANCE_TYPES[0], count: p.small_workers },
    { ...INSTANCE_TYPES[1], count: p.large_workers },
  ].filter((t) => t.count > 0);
  return {
    byType,
    workers: byType.reduce((n, t) => n + t.count, 0),
    cores: byType.reduce((n, t) => n + t.count * t.cores, 0),
    ramGb: byType.reduce((n, t) => n + t.count * t.ram_gb, 0),
  };
}

export interface Job {
  id: string;
  cores: number;
  ram_gb: number;
  seconds: number;
}

export interface LedgerEntry {
  event: "started" | "done" | "shutdown";
  id?: string;
  at: number;
}

/** What the run saw; times are the server's clock (seconds). */
export interface PoolRecord {
  tag: string;
  jobs: Job[];
  /** Machine → its type, tag, and what its own ledger says it did. */
  machines: Record<string, { type: string; tag: string; ledger: LedgerEntry[]; exited: boolean }>;
  /** Job id → the server's record of its result. */
  results: Record<string, { machine: string; done_at: number } | undefined>;
  serverRestart: { stoppedAt: number; startedAt: number; runningAtStop: string[] };
  shutDown: string[];
}

export function checkWorkerPool(r: PoolRecord): string[] {
  const problems: string[] = [];
  const typeRow = (type: string) => INSTANCE_TYPES.find((t) => t.type === type);
  for (const job of r.jobs) {
    const runs = Object.entries(r.machines).flatMap(([machine, m]) => m.ledger.filter((e) => e.event === "started" && e.id === job.id).map(() => machine));
    if (runs.length !== 1) problems.push(`job ${job.id} ran ${runs.length} times (${runs.join(", ") || "never"}), not once`);
    for (const machine of runs) {
      const row = typeRow(r.machines[machine]!.type);
      if (!row || row.cores < job.cores || row.ram_gb < job.ram_gb) problems.push(`job ${job.id} (${job.cores} cores, ${job.ram_gb} GB) ran on ${machine}, a ${r.machines[machine]!.type} that does not fit it`);
    }
    const result = r.results[job.id];
    if (!result) problems.push(`job ${job.id}: no result reached the server`);
    else if (runs.length === 1 && result.machine !== runs[0]) problems.push(`job ${job.id}: result from ${result.machine}, but it ran on ${runs[0]}`);
  }
  if (r.serverRestart.runningAtStop.length === 0) problems.push("no job was running when the server was restarted: the restart tested nothing");
  for (const id of r.serverRestart.runningAtStop) {
    const result = r.results[id];
    if (result && result.done_at < r.serverRestart.startedAt) problems.push(`job ${id} was running across the restart, yet its result is dated before the server came back`);
  }
  for (const machine of r.shutDown) if (r.machines[machine]?.tag !== r.tag) problems.push(`${machine} (tag ${r.machines[machine]?.tag ?? "unknown"}) was shut down though it lacks this pool's tag ${r.tag}`);
  for (const [machine, m] of Object.entries(r.machines)) {
    const ours = m.tag === r.tag;
    if (ours && !(r.shutDown.includes(machine) && m.exited)) problems.push(`${machine} carries the pool's tag but was not shut down at scale-down`);
    if (!ours && (m.exited || m.ledger.some((e) => e.event === "shutdown"))) problems.push(`${machine} of another pool (tag ${m.tag}) was shut down`);
  }
  return problems;
}


interface ServerState {
  jobs: Record<string, { state: string; machine?: string; result_machine?: string; done_at?: string; started_at?: string }>;
  queued: number;
}

const clock = async (agent: Agent) => Number((await agent.exec(["date", "+%s.%N"])).stdout.trim());

/** The run's one fault: the server is stopped and started again while jobs run; recorded in the run's history. */
async function restartServer(cloud: Cloud, server: Agent, daemon: Daemon, start: () => Promise<Daemon>): Promise<{ stoppedAt: number; startedAt: number; daemon: Daemon }> {
  recordFault(cloud, { kind: "restart", target: `${server.name}/${daemon.name}`, expected: "workers wait, reconnect, and their results arrive (restarted while jobs run)" });
  await daemon.stop({ graceMs: 2000 });
  const stoppedAt = await clock(server);
  // Long enough that every worker finds the server away at least once.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const next = await start();
  return { stoppedAt, startedAt: await clock(server), daemon: next };
}

export default defineScenario({
  name: "worker-pool",
  description:
    "TestLooper's CI pool: a server (looper stand-in) with Debian's redis-server, workers booted per type from the instance table { 2 cores, 4 GB → t2.medium; 4 cores, 16 GB → m5.xlarge } within max_workers / max_cores / max_ram_gb, and one machine of another pool. Jobs queue on the server and run on workers that fit their shape; the server is restarted mid-run.",
  invariants: [
    "a plan over max_workers, max_cores or max_ram_gb is refused before anything is made (exit 2, naming the quota)",
    "every job runs exactly once, on a worker whose type fits its cores and RAM, and its result reaches the server",
    "restarting the server does not affect running jobs: jobs running across the restart finish, workers reconnect, their results arrive",
    "scale-down shuts down every machine with this pool's worker tag and no other machine",
  ],
  params,
  fleet: (p: Params) => ({
    server: { count: 1, image: "fleet", shape: { cores: 1, ramGb: 1 } },
    ...Object.fromEntries(planPool(p).byType.map((t) => [groupOf(t.type), { count: t.count, image: "fleet", shape: { cores: t.cores, ramGb: t.ram_gb } }])),
    // A machine of another pool in the same account: scale-down must leave it alone.
    foreign: { count: 1, image: "fleet", shape: { cores: 1, ramGb: 1 } },
  }),
  async run(cloud, p) {
    const [server] = cloud.group("server");
    const [foreign] = cloud.group("foreign");
    const plan = planPool(p);
    const workers = plan.byType.flatMap((t) => cloud.group(groupOf(t.type)).map((agent) => ({ agent, type: t, tag: p.worker_tag })));
    const machines = [...workers, { agent: foreign!, type: INSTANCE_TYPES[0], tag: `${p.worker_tag}-other-pool` }];
    const timeoutMs = 60_000;
    const redisPort = server!.nextPort();
    const port = server!.nextPort();
    const url = `http://${server!.internalHost}:${port}`;

    await Promise.all([server!, ...machines.map((m) => m.agent)].map((agent) => copyStandIns(agent, HERE, "worker-pool")));
    const config = { machine_management: { worker_name: p.worker_tag, instance_types: INSTANCE_TYPES.map((t) => [{ cores: t.cores, ram_gb: t.ram_gb }, t.type]), max_workers: p.max_workers, max_cores: p.max_cores, max_ram_gb: p.max_ram_gb } };
    await server!.writeFile("worker-pool/config.json", JSON.stringify(config, null, 2));
    await server!.spawn(["redis-server", "--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { name: "redis" });
    await server!.waitForPort(redisPort);
    const startServer = async () => {
      const daemon = await server!.spawn(["python3", "worker-pool/looper.py", "--port", String(port), "--redis-port", String(redisPort), "--config", "worker-pool/config.json"], { name: "looper" });
      await server!.waitForPort(port);
      return daemon;
    };
    let looper = await startServer();
    cloud.log(`plan: ${plan.byType.map((t) => `${t.count} × ${t.type}`).join(", ")} = ${plan.workers} workers, ${plan.cores} cores, ${plan.ramGb} GB (quotas ${p.max_workers}, ${p.max_cores}, ${p.max_ram_gb})`);

    const daemons = new Map<string, Daemon>();
    await Promise.all(
      machines.map(async (m) => {
        const daemon = await m.agent.spawn(
          ["python3", "worker-pool/worker.py", "--server", url, "--machine", m.agent.name, "--tag", m.tag, "--type", m.type.type, "--cores", String(m.type.cores), "--ram-gb", String(m.type.ram_gb), "--ledger", "worker-pool/ledger.jsonl"],
          { name: "worker" },
        );
        daemons.set(m.agent.name, daemon);
      }),
    );

    const jobs: Job[] = Array.from({ length: p.jobs }, (_, i) => ({ id: `job-${String(i + 1).padStart(3, "0")}`, ...(i % 2 === 0 ? LARGE_JOB : SMALL_JOB), seconds: p.job_seconds }));
    await server!.exec(["curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", JSON.stringify(jobs), `http://127.0.0.1:${port}/jobs`]);
    const serverState = async () => JSON.parse((await server!.exec(["curl", "-sf", `http://127.0.0.1:${port}/state`])).stdout) as ServerState;
    const watch = (state: ServerState) => {
      const done = Object.values(state.jobs).filter((j) => j.state === "done").length;
      cloud.pushMetric("pool_jobs_done", done, { help: "jobs whose result reached the server" });
      cloud.pushMetric("pool_jobs_running", Object.values(state.jobs).filter((j) => j.state === "running").length, { help: "jobs running on workers" });
      cloud.pushMetric("pool_jobs_queued", state.queued, { help: "jobs waiting for a fitting worker" });
      return done;
    };

    // Restart while jobs run: every worker busy.
    const running = await until("a job running on every worker", timeoutMs, async () => {
      const state = await serverState();
      watch(state);
      const ids = Object.entries(state.jobs).filter(([, j]) => j.state === "running").map(([id]) => id);
      return ids.length >= Math.min(workers.length, p.jobs) ? ids : undefined;
    });
    const restart = await restartServer(cloud, server!, looper, startServer);
    looper = restart.daemon;
    const final = await until("every job's result", timeoutMs + p.jobs * p.job_seconds * 1000, async () => {
      const state = await serverState();
      return watch(state) === jobs.length ? state : undefined;
    });

    const scaled = JSON.parse((await server!.exec(["curl", "-sf", "-X", "POST", `http://127.0.0.1:${port}/scale-down`])).stdout) as { shut_down: string[] };
    await until("the pool's workers to exit", timeoutMs, async () => (workers.every((w) => !daemons.get(w.agent.name)!.running) ? true : undefined));
    // The other pool's machine had as long to (wrongly) see a shutdown as ours had to see theirs.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const record: PoolRecord = {
      tag: p.worker_tag,
      jobs,
      machines: Object.fromEntries(
        await Promise.all(
          machines.map(async (m) => {
            const text = (await m.agent.exec(["cat", "worker-pool/ledger.jsonl"], { allowFailure: true })).stdout;
            const ledger = text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as LedgerEntry);
            return [m.agent.name, { type: m.type.type, tag: m.tag, ledger, exited: !daemons.get(m.agent.name)!.running }] as const;
          }),
        ),
      ),
      results: Object.fromEntries(Object.entries(final.jobs).map(([id, j]) => [id, j.done_at ? { machine: j.result_machine ?? "", done_at: Number(j.done_at) } : undefined])),
      serverRestart: { stoppedAt: restart.stoppedAt, startedAt: restart.startedAt, runningAtStop: running },
      shutDown: scaled.shut_down,
    };
    cloud.pushMetric("pool_machines_shut_down", scaled.shut_down.length, { help: "machines shut down at scale-down" });
    cloud.log(`${jobs.length} jobs done; ${running.length} ran across the server restart; shut down ${scaled.shut_down.join(", ")}`);
    const problems = checkWorkerPool(record);
    if (problems.length) throw new Error(`worker-pool invariants broken:\n  ${problems.join("\n  ")}`);
    cloud.log("worker-pool: every invariant holds");
  },
});
