import { abortable } from "../core/abort.ts";
import type { Inventory } from "../core/inventory.ts";
import { Cloud, type CloudObserver, type CloudOptions } from "../runtime/cloud.ts";
import type { LogSink, RestartEventSink } from "../runtime/daemon.ts";
import { loadScenario, type Scenario } from "./scenario.ts";
import { parseScenarioParams, type ParamsInput } from "./scenario-params.ts";

/**
 * Runs a scenario on a fleet without the CLI: a program (or a test) gives the inventory and
 * the client key, and gets the outcome. The `fieldtest run` command is this plus provisioning,
 * the run directory and the website.
 */

export interface RunScenarioOptions {
  /** The fleet: any inventory (`fieldtest inventory`, a Pulumi stack's output, a localhost namespace). */
  inventory: Inventory;
  /** The client private key every agent accepts. */
  privateKey: string;
  /** Parameter values, checked and completed with defaults by the scenario's schema; or `--param`-style pairs. */
  params?: Record<string, unknown> | ParamsInput;
  /** Where daemon output and `cloud.log` lines go (default: stderr, prefixed `[agent/daemon]`). */
  logSink?: LogSink;
  /** Receives pushMetric, addPrometheusSource, addService and addAlert; without it they throw. */
  observer?: CloudObserver;
  /** Receives every daemon restart a restart policy makes. */
  restartEvents?: RestartEventSink;
  /**
   * Stops the run: `cloud.signal` aborts, the scenario has `stopGraceMs` to return, then its
   * faults are healed and its daemons and connections torn down whether it returned or not.
   */
  signal?: AbortSignal;
  /** How long a stopped scenario may take to return (default 10 s). */
  stopGraceMs?: number;
  /** Called once every agent is connected, before the scenario runs (the CLI starts its exporters here). */
  beforeRun?: (cloud: Cloud) => Promise<void> | void;
  /** Called after the scenario passed, before the connections close (the CLI's --keep-alive waits here). */
  afterRun?: (cloud: Cloud) => Promise<void> | void;
  /**
   * Called last with the fleet still connected, whatever happened: `failure` is what the run
   * threw, if it threw (the CLI takes its failure dumps here).
   */
  beforeClose?: (cloud: Cloud, failure: { error: unknown } | undefined) => Promise<void> | void;
  /** The run's history, and who hears of daemon events and fault windows (the CLI's run history). */
  recording?: Pick<CloudOptions, "history" | "onDaemonEvent" | "faultObserver" | "restartEvents">;
}

export interface ScenarioRun {
  scenario: string;
  namespace: string;
  params: Record<string, unknown>;
  durationMs: number;
}

function isParamsInput(value: RunScenarioOptions["params"]): value is ParamsInput {
  return value !== undefined && (Array.isArray((value as ParamsInput).pairs) || typeof (value as ParamsInput).values === "object") && Object.keys(value).every((key) => key === "pairs" || key === "values" || key === "valuesSource");
}

/** The parameters a run will use: ParamsError names a wrong one. */
export function resolveRunParams(scenario: Scenario, params: RunScenarioOptions["params"]): Record<string, unknown> {
  return parseScenarioParams(scenario, isParamsInput(params) ? params : { values: params ?? {} });
}

function stderrLogSink(): LogSink {
  return ({ agent, daemon, stream, line }) => process.stderr.write(`[${agent}/${daemon}${stream === "stderr" ? "!" : ""}] ${line}\n`);
}


/**
 * Connects to the inventory's agents, runs the scenario with its parameters, and closes
 * everything it started; a failing scenario rejects with its own error. Accepts a loaded
 * scenario or the path of a scenario file.
 */
export async function runScenario(scenario: Scenario | string, options: RunScenarioOptions): Promise<ScenarioRun> {
  const loaded = typeof scenario === "string" ? await loadScenario(scenario) : scenario;
  const params = resolveRunParams(loaded, options.params);
  const started = Date.now();
  const connecting = Cloud.connect(options.inventory, {
    privateKey: options.privateKey,
    logSink: options.logSink ?? stderrLogSink(),
    ...(options.observer ? { observer: options.observer } : {}),
    ...(options.restartEvents ? { restartEvents: options.restartEvents } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...options.recording,
  });
  const cloud = await abortable(connecting, options.signal).catch((error) => {
    // Aborted while connecting: the connections that still come up are closed at once.
    void connecting.then((late) => late.close(), () => {});
    throw error;
  });
  let failure: { error: unknown } | undefined;
  try {
    await abortable(Promise.resolve().then(() => options.beforeRun?.(cloud)), options.signal);
    await untilReturnedOrStopped(Promise.resolve().then(() => loaded.run(cloud, params)), options.signal, options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    const run = { scenario: loaded.name, namespace: options.inventory.namespace, params, durationMs: Date.now() - started };
    await options.afterRun?.(cloud);
    return run;
  } catch (error) {
    failure = { error };
    throw error;
  } finally {
    try {
      // Healed first: the dumps of beforeClose then reach every agent.
      await cloud.healFaults();
      await options.beforeClose?.(cloud, failure);
    } finally {
      await cloud.close();
    }
  }
}

const DEFAULT_STOP_GRACE_MS = 10_000;

/**
 * The scenario's own end, or, once the signal aborts, its end within the grace period and the
 * signal's reason either way: a stopped run is stopped even if the scenario returned in time.
 * A scenario that outlives the grace keeps running until teardown cuts its connections; its
 * late rejection is left handled here, so it is never thrown into the void.
 */
async function untilReturnedOrStopped(running: Promise<void>, signal: AbortSignal | undefined, graceMs: number): Promise<void> {
  if (!signal) return running;
  running.catch(() => {});
  await abortable(running, signal).catch(async (error) => {
    if (!signal.aborted) throw error;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([running.then(() => {}, () => {}), grace]).finally(() => clearTimeout(timer));
    throw signal.reason;
  });
}
