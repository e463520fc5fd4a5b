/**
 * The runner of the scale measure, in a process of its own so its CPU and RSS are the runner's
 * alone: a run over an inventory as `fieldtest run --inventory` makes it (an Observation with its
 * website, run directory and log files; `runScenario` connecting every agent), whose scenario
 * measures what it does to the whole fleet at once. Prints one JSON line, a ScaleReport.
 *
 *   node --expose-gc --import tsx scale-runner.ts <config.json>
 *
 * SIGTERM or SIGINT stops the run as `fieldtest stop` would: daemons stopped, connections closed.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { readInventoryFile } from "../../src/core/inventory.ts";
import { silentProgress } from "../../src/core/progress.ts";
import { Observation } from "../../src/observe/observation.ts";
import { BroadcastError, type BroadcastResult } from "../../src/runtime/broadcast.ts";
import type { Cloud } from "../../src/runtime/cloud.ts";
import type { LogLine } from "../../src/runtime/daemon.ts";
import { runScenario } from "../../src/scenario/run-scenario.ts";
import { defineScenario } from "../../src/scenario/scenario.ts";

export interface ScaleRunnerConfig {
  inventoryPath: string;
  keyPath: string;
  /** Where the run directory goes. */
  runsDir: string;
  fanoutRounds: number;
  /** Lines each agent's daemon prints at once. */
  linesPerDaemon: number;
  /** A local file that `cloud.copy` sends to the first `copyAgents` agents. */
  copyPath: string;
  copyAgents: number;
  /** Its name on the agents, without `.bin` (default scale-copy): a second run names it anew, so the file is sent again, not found there. */
  copyName?: string;
}

export interface WebsiteSample {
  /** /api/state latencies, ms. */
  state: number[];
  /** SSE `logs` message delays, ms (see website-probe.ts). */
  sse: number[];
  /** Times the website dropped the probe's stream for not keeping up (it reconnects, as a browser does). */
  sseDrops: number;
}

export interface CpuWall {
  wallMs: number;
  /** The runner's CPU time (user + system) over the same span. */
  cpuMs: number;
  /** For the steps `timed` measures: the machine's busy CPU time over the same span, all cores (/proc/stat). */
  machineCpuMs?: number;
}

export interface ScaleReport {
  agents: number;
  /** From the start of `runScenario` until every agent is connected (beforeRun). */
  connect: CpuWall;
  /** From the start until every agent has answered a first `true`. */
  ready: CpuWall;
  /** `exec("true")` on every agent at once, per round. */
  fanout: CpuWall[];
  /** One daemon printing as many lines as all of them together, while the website is probed. */
  single: CpuWall & { lines: number; website: WebsiteSample };
  /** A daemon on every agent printing `linesPerDaemon` lines at once, while the website is probed. */
  streaming: CpuWall & { lines: number; expected: number; shortAgents: string[]; website: WebsiteSample };
  /** `cloud.copy` to `of` agents, after the same file to one agent alone (`toOneMs`); `agents` have it. */
  copy: CpuWall & { bytes: number; agents: number; of: number; uplinkBytes: number; failed: string[]; toOneMs: number };
  /** From the scenario's return until `runScenario` has stopped a daemon per agent and closed every connection. */
  close: CpuWall;
  /** `peakPhase`: the step the peak was sampled in (connect, fanout, single, streaming, copy, close). */
  rss: { idle: number; connected: number; peak: number; peakPhase: string };
  /** Every exec and daemon failure seen (the copy's are its own); empty on a clean run. */
  errors: string[];
}

const LINE_DAEMON = "lines";
const PROBE = join(fileURLToPath(new URL(".", import.meta.url)), "website-probe.ts");

/** A daemon printing `lines` lines of about 60 bytes, as the logs measure's does. */
function printer(lines: number): string {
  return `seq -f 'scale log line %09.0f: the quick brown fox jumps over the lazy dog' 1 ${lines}`;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** CPU time every core of the machine has spent busy (not idle or waiting on I/O) since boot, ms. */
async function machineBusyMs(): Promise<number> {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // /proc/stat counts in USER_HZ ticks, 100 a second on Linux.
  return (user + nice + system + irq + softirq + steal) * 10;
}

/** Measures a step: its wall time, the runner's CPU time and the machine's. */
async function timed<T>(step: () => Promise<T>): Promise<{ value: T } & CpuWall> {
  const machine = await machineBusyMs();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await step();
  const wallMs = performance.now() - started;
  return { value, wallMs, cpuMs: cpuMsSince(cpu), machineCpuMs: (await machineBusyMs()) - machine };
}

/** Runs the website probe while `during` runs; its samples once it is done. */
async function probed<T>(url: string, during: () => Promise<T>): Promise<{ value: T; website: WebsiteSample }> {
  const probe = spawn(process.execPath, ["--import", "tsx", PROBE, url], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  const exited = new Promise<number | null>((resolve) => probe.once("exit", resolve));
  // The probe's first /api/state has answered before the step starts.
  const ready = new Promise<void>((resolve) =>
    probe.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith("ready\n")) resolve();
    }),
  );
  try {
    await Promise.race([ready, exited.then((code) => Promise.reject(new Error(`the website probe exited with ${code} before it was ready`)))]);
    return { value: await during(), website: await finish() };
  } finally {
    probe.stdin.end();
    await exited;
  }

  async function finish(): Promise<WebsiteSample> {
    probe.stdin.end();
    const code = await exited;
    if (code !== 0) throw new Error(`the website probe exited with ${code}`);
    return JSON.parse(out.slice("ready\n".length)) as WebsiteSample;
  }
}

const [configPath] = process.argv.slice(2);
if (!configPath) throw new Error("usage: scale-runner.ts <config.json>");
const config = JSON.parse(await readFile(configPath, "utf8")) as ScaleRunnerConfig;
const inventory = await readInventoryFile(config.inventoryPath);
const privateKey = await readFile(config.keyPath, "utf8");

function settledRss(): number {
  globalThis.gc?.();
  return process.memoryUsage().rss;
}
let peakRss = settledRss();
const rssIdle = peakRss;
let phase = "connect";
let peakPhase = phase;
const rssTimer = setInterval(() => {
  const rss = process.memoryUsage().rss;
  if (rss > peakRss) [peakRss, peakPhase] = [rss, phase];
}, 100);

const stop = new AbortController();
process.once("SIGTERM", () => stop.abort(new Error("stopped")));
process.once("SIGINT", () => stop.abort(new Error("interrupted")));

const errors: string[] = [];
const lineCounts = new Map<string, number>();
const countLines = (line: LogLine) => {
  if (line.daemon === LINE_DAEMON) lineCounts.set(line.agent, (lineCounts.get(line.agent) ?? 0) + 1);
};

const observation = await Observation.start({
  inventory,
  scenario: "scale",
  runsDir: config.runsDir,
  config: { measure: "scale" },
  clientKeyPath: config.keyPath,
  website: { port: 0 },
  progress: silentProgress,
});
const website = observation.website!.url;

/** Every agent's daemon printing `lines`, until each has exited; a failed exit is an error. */
async function streamOn(agents: readonly Cloud["agents"][number][], lines: number): Promise<void> {
  lineCounts.clear();
  const daemons = await Promise.all(agents.map((agent) => agent.spawn(printer(lines), { name: LINE_DAEMON })));
  const exits = await Promise.all(daemons.map((daemon) => daemon.exited));
  exits.forEach((exit, i) => {
    if (exit.code !== 0) errors.push(`${agents[i]!.name}: the line printer exited with ${exit.code ?? exit.signal}`);
  });
}

/** `cloud.copy` of the file to `agents`; agents left without it are in `failed`, not thrown. */
async function copyTo(cloud: Cloud, agents: readonly Cloud["agents"][number][], remote: string): Promise<BroadcastResult> {
  return cloud.copy(agents, config.copyPath, remote).catch((error: unknown) => {
    if (error instanceof BroadcastError) return error.result;
    throw error;
  });
}

/** `true` on every agent at once; a failure is an error, not an exception, so every round completes. */
async function fanOut(cloud: Cloud): Promise<void> {
  const results = await Promise.allSettled(cloud.agents.map((agent) => agent.exec("true")));
  for (const result of results) if (result.status === "rejected") errors.push((result.reason as Error).message);
}

const started = performance.now();
const startCpu = process.cpuUsage();
let connect: CpuWall | undefined;
let rssConnected = 0;
let returned = 0;
let closeCpu: NodeJS.CpuUsage | undefined;
const partial: Partial<ScaleReport> = {};

const scenario = defineScenario({
  name: "scale",
  async run(cloud) {
    await fanOut(cloud);
    partial.ready = { wallMs: performance.now() - started, cpuMs: cpuMsSince(startCpu) };
    rssConnected = settledRss();
    phase = "fanout";
    partial.fanout = [];
    for (let round = 0; round < config.fanoutRounds; round++) {
      cloud.signal.throwIfAborted();
      partial.fanout.push(await timed(() => fanOut(cloud)));
    }

    const agents = cloud.agents;
    const total = agents.length * config.linesPerDaemon;
    phase = "single";
    const single = await probed(website, () => timed(() => streamOn(agents.slice(0, 1), total)));
    partial.single = { ...single.value, lines: lineCounts.get(agents[0]!.name) ?? 0, website: single.website };
    if (partial.single.lines !== total) errors.push(`${agents[0]!.name}: the sink got ${partial.single.lines} of ${total} lines`);

    cloud.signal.throwIfAborted();
    phase = "streaming";
    const streaming = await probed(website, () => timed(() => streamOn(agents, config.linesPerDaemon)));
    const shortAgents = agents.filter((agent) => lineCounts.get(agent.name) !== config.linesPerDaemon).map((agent) => agent.name);
    const lines = [...lineCounts.values()].reduce((a, b) => a + b, 0);
    partial.streaming = { ...streaming.value, lines, expected: total, shortAgents, website: streaming.website };
    if (shortAgents.length > 0) errors.push(`${shortAgents.length} agent(s) delivered other than ${config.linesPerDaemon} lines, e.g. ${shortAgents[0]} ${lineCounts.get(shortAgents[0]!) ?? 0}`);

    cloud.signal.throwIfAborted();
    phase = "copy";
    const targets = agents.slice(0, config.copyAgents);
    const copyName = config.copyName ?? "scale-copy";
    const alone = await timed(() => copyTo(cloud, targets.slice(0, 1), `${copyName}-one.bin`));
    const copied = await timed(() => copyTo(cloud, targets, `${copyName}.bin`));
    const failed = [...alone.value.failed, ...copied.value.failed].map((f) => `${f.agent}: ${f.error}`);
    partial.copy = {
      wallMs: copied.wallMs,
      cpuMs: copied.cpuMs,
      bytes: copied.value.bytes,
      agents: Object.keys(copied.value.agents).length,
      of: targets.length,
      uplinkBytes: copied.value.uplinkBytes,
      failed,
      toOneMs: alone.wallMs,
    };

    // A run's end stops what is still running: one daemon per agent for the close to stop.
    await Promise.all(agents.map((agent) => agent.spawn("sleep 3600", { name: "idle" })));
    returned = performance.now();
    phase = "close";
    closeCpu = process.cpuUsage();
  },
});

let failure: unknown;
try {
  await runScenario(scenario, {
    inventory,
    privateKey,
    logSink: observation.logSink(countLines),
    observer: observation,
    signal: stop.signal,
    beforeRun: () => {
      connect = { wallMs: performance.now() - started, cpuMs: cpuMsSince(startCpu) };
    },
  });
} catch (error) {
  failure = error;
}
const closed = performance.now();
clearInterval(rssTimer);
await observation.finish(failure ? { status: "failed", error: (failure as Error).message } : { status: "passed" });
if (failure) {
  process.stderr.write(`scale runner: ${(failure as Error).stack ?? String(failure)}\n`);
  process.exit(1);
}
const report: ScaleReport = {
  agents: inventory.agents.length,
  connect: connect!,
  ready: partial.ready!,
  fanout: partial.fanout!,
  single: partial.single!,
  streaming: partial.streaming!,
  copy: partial.copy!,
  close: { wallMs: closed - returned, cpuMs: cpuMsSince(closeCpu!) },
  rss: { idle: rssIdle, connected: rssConnected, peak: peakRss, peakPhase },
  errors,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
