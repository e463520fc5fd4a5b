// What the commands of runs.ts do, loaded when one of them runs: reading a run over the
// fleet's SSH, the checkers and the website tunnel are not for `--help` to load.
import { readFile, rename, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { checkHistory, CHECKERS, isCheckerName, verdictText, type CheckerName } from "../runtime/checkers/index.ts";
import { readInventoryFile, type Inventory } from "../core/inventory.ts";
import { isRunId } from "../core/safe-path.ts";
import { visibleLine, visibleText } from "../core/terminal-text.ts";
import { HISTORY_FILE } from "../runtime/history/entry.ts";
import { readHistory } from "../runtime/history/reader.ts";
import { parseByteSize } from "../runtime/capped-log.ts";
import type { DaemonOutput } from "../runtime/daemon.ts";
import { DAEMON_OUTPUTS } from "../runs/console.ts";
import type { LongRunOptions } from "../runs/long-run.ts";
import { STATUS_FILE, type RunStatus } from "../runs/record.ts";
import { openWebsiteTunnel } from "../runs/website-tunnel.ts";
import { localRuns, RunHost } from "../runs/remote.ts";
import { type CliContext, UsageError } from "./context.ts";
import { liveInventory, namespaceState } from "./fleet.ts";
import { INTERRUPTED_EXIT_CODE } from "./interrupt.ts";
import { namespaceOption, portOption, positiveIntOption } from "./options.ts";
import { renderTable, writeJson } from "./output.ts";
import { processExists } from "../core/process.ts";

export interface LongRunFlags {
  detach?: boolean;
  daemonOutput?: string;
  logCap?: string;
  checkTimeLimit?: string;
}

/** The long-run flags of `run` (runs.ts declares them), read into the run's options. */
export function longRunRequest(flags: LongRunFlags): LongRunOptions {
  const level = flags.daemonOutput ?? "all";
  if (!DAEMON_OUTPUTS.includes(level as DaemonOutput)) throw new UsageError(`--daemon-output "${level}" must be one of ${DAEMON_OUTPUTS.join(", ")}`);
  let logCapBytes: number;
  try {
    logCapBytes = parseByteSize(flags.logCap ?? "100MB");
  } catch (error) {
    throw new UsageError(`--log-cap: ${(error as Error).message}`);
  }
  return {
    daemonOutput: level as DaemonOutput,
    logCapBytes,
    checkTimeLimitMs: positiveIntOption("--check-time-limit", flags.checkTimeLimit, 10, 86_400) * 1000,
  };
}

/** The namespace's fleet, from `--inventory`/`--ssh-key` or from the namespace's live agents and key. */
async function fleetOf(context: CliContext, flags: RemoteFlags): Promise<{ inventory: Inventory; privateKey: string } | undefined> {
  if (flags.inventory) {
    const inventory = await readInventoryFile(flags.inventory).catch((error: Error) => {
      throw new UsageError(error.message);
    });
    const keyPath = flags.sshKey ?? namespaceState(context, inventory.namespace).clientKeyPath;
    const privateKey = await readFile(keyPath, "utf8").catch((error: Error) => {
      throw new UsageError(`--ssh-key ${keyPath} cannot be read: ${error.message}`);
    });
    return { inventory, privateKey };
  }
  const namespace = namespaceOption(flags.namespace, context.env);
  if (!namespace) return undefined;
  const inventory = await liveInventory(context, namespace);
  if (!inventory || inventory.agents.length === 0) return undefined;
  const privateKey = flags.sshKey
    ? await readFile(flags.sshKey, "utf8")
    : await namespaceState(context, namespace).existingPrivateKey().catch((error: Error) => {
        throw new UsageError(error.message);
      });
  return { inventory, privateKey };
}

export interface RemoteFlags {
  namespace?: string;
  inventory?: string;
  sshKey?: string;
  run?: string;
  json?: boolean;
  runsDir?: string;
}

async function withRunHost<T>(context: CliContext, flags: RemoteFlags, work: (host: RunHost, inventory: Inventory) => Promise<T>): Promise<T> {
  const fleet = await fleetOf(context, flags);
  if (!fleet) throw new UsageError(`no live agents for ${flags.namespace ? `namespace ${flags.namespace}` : "this command"}: pass --namespace <name> of a running fleet, or --inventory <file> with --ssh-key <key>`);
  const host = await RunHost.connect(fleet.inventory, fleet.privateKey);
  if (!host) throw new UsageError(`namespace ${fleet.inventory.namespace} has no agents`);
  try {
    return await work(host, fleet.inventory);
  } finally {
    await host.close();
  }
}

/** `fieldtest check`'s exit status when no checker could decide (a time limit, nothing to check), as Jepsen's. */
export const CHECK_UNKNOWN_EXIT_CODE = 2;

/** A runner refreshes its status every second; one silent for longer than this was killed or lost its fleet. */
const STALE_AFTER_MS = 15_000;

function isStale(run: RunStatus, now = Date.now()): boolean {
  return !run.final && now - Date.parse(run.updatedAt) > STALE_AFTER_MS;
}

/**
 * Why the run's runner is taken for gone, or undefined while it may still be there: it stopped
 * refreshing the status, or it was a process of this machine that no longer exists.
 */
function runnerGone(run: RunStatus, now = Date.now()): string | undefined {
  if (run.final) return undefined;
  if (run.runner.host === hostname() && !processExists(run.runner.pid)) return `its runner (pid ${run.runner.pid} on this machine) no longer exists`;
  if (isStale(run, now)) return `its runner (pid ${run.runner.pid} on ${run.runner.host}) is gone: no news since ${run.updatedAt}`;
  return undefined;
}

/**
 * Records a run whose runner is gone as ended, abnormally, on the fleet and in the local runs
 * directory when it has the run: `runs` then shows it failed instead of running forever.
 */
async function recordRunnerGone(context: CliContext, host: RunHost, run: RunStatus, why: string, runsDir: string): Promise<void> {
  const ended: RunStatus = { ...run, phase: "done", result: "failed", error: `the run ended abnormally: ${why}`, updatedAt: new Date().toISOString(), final: true };
  await host.recordStatus(ended);
  const local = join(runsDir, run.namespace, run.id, STATUS_FILE);
  if (await stat(local).then(() => true, () => false)) {
    await writeFile(`${local}.part`, `${JSON.stringify(ended, null, 2)}\n`);
    await rename(`${local}.part`, local);
  }
  context.stderr.write(
    `fieldtest: run ${run.id} ${ended.error}; recorded it as failed. Its agents stay until their TTL (${run.expiresAt}) unless you end them: fieldtest destroy --namespace ${run.namespace}\n`,
  );
}

function pickRun(runs: readonly RunStatus[], id: string | undefined, namespace: string): RunStatus {
  if (id !== undefined && !isRunId(id)) throw new UsageError(`--run ${JSON.stringify(id)} is not a run id: fieldtest's look like 20250131-142501-3fa9 (see \`fieldtest runs\`)`);
  const run = id ? runs.find((r) => r.id === id) : (runs.find((r) => !r.final && !isStale(r)) ?? runs[0]);
  if (!run) throw new UsageError(id ? `no run ${id} in namespace ${namespace}; runs: ${runs.map((r) => r.id).join(", ") || "(none)"}` : `namespace ${namespace} has no run`);
  return run;
}

function runsDirOf(context: CliContext, flags: RemoteFlags): string {
  const dir = flags.runsDir ?? context.env.FIELDTEST_RUNS_DIR ?? "runs";
  return isAbsolute(dir) ? dir : resolve(context.cwd, dir);
}

/** `fieldtest runs`: the local runs directory's runs and the fleet's, newest first. */
export async function listRuns(context: CliContext, flags: RemoteFlags): Promise<void> {
  const byId = new Map<string, RunStatus>();
  for (const run of await localRuns(runsDirOf(context, flags), namespaceOption(flags.namespace, context.env))) byId.set(run.id, run);
  // A fleet found by namespace may be gone: the local runs are listed anyway. An inventory
  // given by hand that cannot be read is a usage error, not an empty list.
  const fleet = flags.inventory ? await fleetOf(context, flags) : await fleetOf(context, flags).catch(() => undefined);
  if (fleet) {
    const host = await RunHost.connect(fleet.inventory, fleet.privateKey);
    try {
      for (const run of (await host?.runs()) ?? []) {
        const known = byId.get(run.id);
        if (!known || known.updatedAt < run.updatedAt) byId.set(run.id, run);
      }
    } finally {
      await host?.close();
    }
  }
  const runs = [...byId.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  if (flags.json) return writeJson(context.stdout, runs.map((r) => ({ ...r, stale: isStale(r) })));
  const resultOf = (r: RunStatus) => (r.final ? r.result : isStale(r) ? `no news since ${r.updatedAt} (runner gone?)` : `${r.result}${r.detached ? " (detached)" : ""}`);
  const rows = runs.map((r) => [r.id, r.namespace, r.scenario, r.phase, r.startedAt.replace(/\.\d+Z$/, "Z"), String(r.agents.length), resultOf(r)]);
  context.stdout.write(renderTable(["ID", "NAMESPACE", "SCENARIO", "PHASE", "STARTED", "AGENTS", "RESULT"], rows));
}

/** `fieldtest attach`: follows a run until it ends, or Ctrl+D. */
export async function attachRun(context: CliContext, flags: RemoteFlags, setExitCode: (code: number) => void, exitNow: (code: number) => never): Promise<void> {
  const code = await withRunHost(context, flags, (host, inventory) => attach(context, host, flags.run, inventory.namespace, exitNow));
  setExitCode(code);
}

/** `fieldtest stop`: asks a run to end gracefully, and waits for it unless --no-wait. */
export async function stopRun(context: CliContext, flags: RemoteFlags & { wait: boolean }, setExitCode: (code: number) => void): Promise<void> {
  const code = await withRunHost(context, flags, async (host, inventory) => {
    const run = pickRun(await host.runs(), flags.run, inventory.namespace);
    if (run.final) {
      context.stderr.write(`fieldtest: run ${run.id} has already ended: ${run.result}\n`);
      return run.result === "passed" ? 0 : 1;
    }
    const goneAtOnce = runnerGone(run);
    if (goneAtOnce) {
      await recordRunnerGone(context, host, run, goneAtOnce, runsDirOf(context, flags));
      return 1;
    }
    await host.requestStop(run.id);
    context.stderr.write(`fieldtest: asked run ${run.id} to stop\n`);
    if (!flags.wait) return 0;
    for (;;) {
      const status = await host.follow(run.id, Number.MAX_SAFE_INTEGER).then((f) => f.status, () => undefined);
      // The agents of a run that owned its fleet are gone after teardown: that is the end too.
      if (!status || status.final) {
        context.stderr.write(`fieldtest: run ${run.id} ended${status ? `: ${status.result}` : ""}\n`);
        return !status || status.result === "passed" || status.result === "interrupted" ? 0 : 1;
      }
      // A runner killed while stopping never writes its final status: waiting for it would be forever.
      const gone = runnerGone(status);
      if (gone) {
        await recordRunnerGone(context, host, status, gone, runsDirOf(context, flags));
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  setExitCode(code);
}

/** `fieldtest fetch-run`: copies a run directory from the fleet, incrementally. */
export async function fetchRun(context: CliContext, flags: RemoteFlags): Promise<void> {
  await withRunHost(context, flags, async (host, inventory) => {
    const run = pickRun(await host.runs(), flags.run, inventory.namespace);
    const dir = join(runsDirOf(context, flags), inventory.namespace, run.id);
    const fetched = await host.fetch(run.id, dir);
    context.stderr.write(`fieldtest: ${fetched.files} file(s), ${fetched.bytes} bytes fetched, ${fetched.skipped} unchanged\n`);
    context.stdout.write(`${dir}\n`);
  });
}

/** `fieldtest website`: a detached run's website on this machine's loopback. */
export async function websiteOfRun(context: CliContext, flags: RemoteFlags & { port?: string }): Promise<void> {
  const port = flags.port === undefined ? 0 : portOption("--port", flags.port, 0);
  await withRunHost(context, flags, (host, inventory) => serveWebsite(context, host, flags.run, inventory.namespace, port));
}

/** `fieldtest check`: the checkers over a run directory's history. */
export async function checkRunDir(context: CliContext, dir: string, flags: { checker: string[]; timeLimit: string; json?: boolean }, setExitCode: (code: number) => void): Promise<void> {
  const bad = flags.checker.find((name) => !isCheckerName(name));
  if (bad) throw new UsageError(`--checker "${bad}" must be one of ${CHECKERS.join(", ")}`);
  const path = join(resolve(context.cwd, dir), HISTORY_FILE);
  const history = await readHistory(path).catch((error: Error) => {
    throw new UsageError(`${path}: ${error.message}`);
  });
  const report = checkHistory(history.entries, {
    ...(flags.checker.length ? { checkers: flags.checker as CheckerName[] } : {}),
    timeLimitMs: positiveIntOption("--time-limit", flags.timeLimit, 10, 86_400) * 1000,
  });
  if (flags.json) writeJson(context.stdout, { ...report, truncatedTail: history.truncatedTail });
  else {
    for (const c of report.checkers) context.stdout.write(`${c.checker}: ${verdictText(c)}  ${c.summary}\n`);
    if (report.checkers.length === 0) context.stdout.write("no checker named: the scenario called no cloud.history.check(...); pass --checker\n");
  }
  // As Jepsen's: 1 when a checker found the history invalid, 2 when none could decide.
  if (report.valid === false) setExitCode(1);
  else if (report.valid === "unknown") setExitCode(CHECK_UNKNOWN_EXIT_CODE);
}

/**
 * Follows the run until it is final. With a terminal, keys are read raw: Ctrl+D detaches
 * (the run goes on), Ctrl+C asks the run to stop, a second Ctrl+C stops waiting. Without one,
 * SIGINT does the same as Ctrl+C.
 */
async function attach(context: CliContext, host: RunHost, id: string | undefined, namespace: string, exitNow: (code: number) => never): Promise<number> {
  const run = pickRun(await host.runs(), id, namespace);
  context.stderr.write(`fieldtest: attached to run ${run.id} (${run.scenario}) on ${host.agentName}; Ctrl+D detaches, Ctrl+C stops the run\n`);
  let stopAsked = false;
  let detach = false;
  const onInterrupt = () => {
    if (stopAsked) {
      context.stderr.write("fieldtest: stopped waiting; the run ends by itself\n");
      exitNow(INTERRUPTED_EXIT_CODE);
    }
    stopAsked = true;
    context.stderr.write("fieldtest: asking the run to stop gracefully (Ctrl+C again to stop waiting)\n");
    void host.requestStop(run.id).catch((error: Error) => context.stderr.write(`fieldtest: stop request failed: ${error.message}\n`));
  };
  const stdin = process.stdin;
  const raw = stdin.isTTY && context.signals === process;
  const onKey = (chunk: Buffer) => {
    if (chunk.includes(0x04)) detach = true;
    if (chunk.includes(0x03)) onInterrupt();
  };
  if (raw) {
    stdin.setRawMode(true);
    stdin.on("data", onKey);
    stdin.resume();
  }
  context.signals.on("SIGINT", onInterrupt);
  let offset = 0;
  let phase = "";
  // The console comes from the fleet's first agent: shown with its control characters visible,
  // decoded as a stream so a character split between two reads stays whole.
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const followed = await host.follow(run.id, offset).catch(() => undefined);
      if (!followed) {
        context.stderr.write(`fieldtest: ${host.agentName} no longer answers: the run's fleet was torn down\n`);
        return 0;
      }
      const { status, console } = followed;
      if (console.length) context.stdout.write(visibleText(decoder.decode(console, { stream: true })));
      offset += console.length;
      if (status.phase !== phase) context.stderr.write(`fieldtest: phase ${visibleLine((phase = status.phase))}\n`);
      if (status.final && console.length === 0) {
        context.stderr.write(`fieldtest: run ${run.id} ${status.result}${status.error ? `: ${visibleText(status.error)}` : ""}\n`);
        return status.result === "passed" ? 0 : status.result === "interrupted" ? INTERRUPTED_EXIT_CODE : 1;
      }
      if (detach) {
        context.stderr.write(`fieldtest: detached; run ${run.id} goes on (fieldtest attach --namespace ${namespace})\n`);
        return 0;
      }
      if (console.length === 0) await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    context.signals.off("SIGINT", onInterrupt);
    if (raw) {
      stdin.off("data", onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
}

/** `fieldtest website`: the run's website on this machine's loopback until Ctrl+C, each connection carried by the first agent's SSH. */
async function serveWebsite(context: CliContext, host: RunHost, id: string | undefined, namespace: string, port: number): Promise<void> {
  const run = pickRun(await host.runs(), id, namespace);
  const { website } = run;
  if (run.final) throw new UsageError(`run ${run.id} has ended (${run.result}) and its website with it: \`fieldtest fetch-run --namespace ${namespace} --run ${run.id}\` brings its run directory`);
  if (!website) {
    throw new UsageError(`run ${run.id} records no website on the fleet: start it with \`run --detach --website\` on a localhost or SSH-hosts namespace (elsewhere the website is on the machine that ran it: ${run.runner.host})`);
  }
  const tunnel = await openWebsiteTunnel(() => host.openTcp(website.host, website.port, website.via), { website, port, onError: (message) => context.stderr.write(`fieldtest: ${message}\n`) });
  try {
    context.stderr.write(`fieldtest: website of run ${run.id} (${website.host}:${website.port} from ${website.via ?? host.agentName}); Ctrl+C ends it\n`);
    context.stdout.write(`${tunnel.url}\n`);
    await new Promise<void>((resolve) => {
      const done = () => {
        context.signals.off("SIGINT", done).off("SIGTERM", done);
        resolve();
      };
      context.signals.on("SIGINT", done).on("SIGTERM", done);
    });
  } finally {
    await tunnel.close();
  }
}
