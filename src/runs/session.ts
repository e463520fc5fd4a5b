import { userInfo } from "node:os";
import { join } from "node:path";
import { abortable } from "../core/abort.ts";
import { resourceLabels } from "../core/namespace.ts";
import type { Inventory } from "../core/inventory.ts";
import { redactUrl } from "../observe/alerts.ts";
import { startNodeExporters } from "../observe/node-exporter.ts";
import { Observation } from "../observe/observation.ts";
import type { NodeExporterTarget } from "../observe/prometheus.ts";
import type { Cloud } from "../runtime/cloud.ts";
import { runScenario } from "../scenario/run-scenario.ts";
import type { FleetGroup } from "../scenario/scenario-fleet.ts";
import { ParamsError, parseScenarioParams, readParamsFile } from "../scenario/scenario-params.ts";
import { loadScenario, resolveScenarioPath, type Scenario } from "../scenario/scenario.ts";
import { RunInputError, type RunContext } from "./context.ts";
import { consoleSink } from "./console.ts";
import { acquireFleet, planFleet, releaseFleet, type AcquiredFleet } from "./fleet-source.ts";
import { LongRun, type StopReason } from "./long-run.ts";
import type { RunSpec } from "./spec.ts";

export interface RunOutcome {
  scenario: string;
  namespace: string;
  result: "passed" | "failed" | "interrupted";
  error?: string;
  durationMs: number;
  agents: string[];
  /** Where the run's config, inventory, logs, metrics and result were written. */
  runDir?: string;
  /** What the checkers said of the recorded history: true, false or "unknown". */
  checks?: boolean | "unknown";
  website?: string;
  prometheus?: string;
}

/** The stopped run's error, which `cloud.signal.reason` also is. */
export class RunStoppedError extends Error {
  constructor(readonly reason: string) {
    super(`stopped: ${reason}`);
  }
}

/** The scenario a spec names: a name of the package's scenarios/ or a path from the context's cwd. */
export async function resolveSpecScenario(context: Pick<RunContext, "cwd" | "packageRoot">, reference: string): Promise<Scenario> {
  return loadScenario(await resolveScenarioPath(reference, context.cwd, join(context.packageRoot, "scenarios")));
}

/** The parameters of the spec, checked by the scenario's schema: a bad one is RunInputError. */
export function specParams(scenario: Scenario, params: RunSpec["params"]): Record<string, unknown> {
  try {
    return parseScenarioParams(scenario, params);
  } catch (error) {
    if (error instanceof ParamsError) throw new RunInputError(error.message);
    throw error;
  }
}

/** `--params <file>` as spec values: read once, by whoever builds the spec. */
export async function paramsFromFile(path: string): Promise<Pick<RunSpec["params"], "values" | "valuesSource">> {
  try {
    return { values: await readParamsFile(path), valuesSource: `--params ${path}` };
  } catch (error) {
    if (error instanceof ParamsError) throw new RunInputError(error.message);
    throw error;
  }
}

/**
 * One run, from a checked RunSpec to its RunOutcome: the fleet acquired, the run directory and
 * observation started, the scenario run, the checkers, the keep-alive, and the teardown the spec
 * says. `stop` (or the signal given) ends it in order: `cloud.signal`, the grace period for the
 * scenario to return, faults healed, dumps, teardown. The CLI, detached runners, programs and
 * tests all run scenarios through this.
 */
export class RunSession {
  readonly #controller = new AbortController();
  #stopReason: string | undefined;
  #keepingAlive: (() => void) | undefined;

  constructor(
    private readonly context: RunContext,
    readonly spec: RunSpec,
    signal?: AbortSignal,
  ) {
    if (signal?.aborted) this.stop("interrupted");
    signal?.addEventListener("abort", () => this.stop("interrupted"), { once: true });
  }

  /** Aborted once the run is being stopped. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Ends the run: during the scenario, it is stopped (result "interrupted"); during a keep-alive
   * after the scenario, the run keeps its result and the teardown starts.
   */
  stop(reason: StopReason | "interrupted" | "deadline" = "stop-requested"): void {
    if (this.#keepingAlive) return this.#keepingAlive();
    if (this.#controller.signal.aborted) return;
    this.#stopReason = reason;
    this.#controller.abort(new RunStoppedError(reason));
  }

  async run(): Promise<RunOutcome> {
    const { context, spec } = this;
    const scenario = await resolveSpecScenario(context, spec.scenario);
    const params = specParams(scenario, spec.params);
    const groups = spec.fleet.kind === "localhost" ? planFleet(context, spec.fleet, scenario, params) : undefined;
    const fleet = await acquireFleet(context, spec.fleet, scenario, groups ?? [], this.signal);
    const strays = this.#catchStrays();
    try {
      return await this.#runOn(scenario, params, groups, fleet);
    } finally {
      strays.dispose();
    }
  }

  async #runOn(scenario: Scenario, params: Record<string, unknown>, groups: FleetGroup[] | undefined, fleet: AcquiredFleet): Promise<RunOutcome> {
    const { context, spec } = this;
    const { progress } = context;
    const observe = spec.observation;
    const { inventory } = fleet;
    const started = Date.now();
    let outcome: RunOutcome | undefined;
    let observation: Observation | undefined;
    let scenarioStarted = false;
    let closedOut = false;
    const longRun = new LongRun(
      {
        daemonOutput: observe.daemonOutput,
        ...(observe.logCapBytes ? { logCapBytes: observe.logCapBytes } : {}),
        ...(observe.runId ? { runId: observe.runId } : {}),
        ...(spec.limits.checkTimeLimitMs ? { checkTimeLimitMs: spec.limits.checkTimeLimitMs } : {}),
        ...(observe.fleetWebsite ? { fleetWebsite: observe.fleetWebsite } : {}),
        detached: spec.detached,
      },
      (reason) => this.stop(reason),
      this.signal,
      progress,
    );
    const finish = (result: RunOutcome["result"], error?: string): RunOutcome => ({
      scenario: scenario.name,
      namespace: inventory.namespace,
      result,
      ...(error === undefined ? {} : { error }),
      durationMs: Date.now() - started,
      agents: inventory.agents.map((a) => a.name),
      ...(observation ? { runDir: observation.runDir.path } : {}),
      ...(observation?.website ? { website: observation.website.url } : {}),
      ...(observation?.prometheus ? { prometheus: observation.prometheus.url } : {}),
    });
    const stopped = () => finish("interrupted", this.#stopReason === "interrupted" ? "interrupted by the user" : `stopped (${this.#stopReason})`);
    try {
      observation = await Observation.start({
        ...longRun.observationOptions(),
        inventory,
        scenario: scenario.name,
        runsDir: observe.runsDir,
        config: runConfig(spec, scenario.name, params, groups),
        clientKeyPath: fleet.key.keyPath,
        ...(observe.website ? { website: observe.website } : {}),
        progress,
      });
      progress.step(`run directory ${observation.runDir.path}`);
      const observing = observation;
      const logSink = observing.logSink(consoleSink(observe.daemonOutput, context.log));
      await runScenario(scenario, {
        inventory,
        privateKey: fleet.key.privateKey,
        params,
        logSink,
        observer: observing,
        recording: longRun.cloudOptions(observing),
        signal: this.signal,
        stopGraceMs: spec.limits.stopGraceMs,
        beforeRun: async (connected: Cloud) => {
          await longRun.started(observing, connected, inventory, scenario.name, fleet.key.privateKey);
          let nodeExporters: NodeExporterTarget[] = [];
          if (observe.monitoring) {
            // Exporter chatter belongs on the website and in the run directory, not in the scenario's output.
            nodeExporters = await abortable(startNodeExporters(connected.agents, () => {}), this.signal);
            progress.step(`node exporters running on ${nodeExporters.length} agent(s)`);
          }
          if (observe.prometheus) await abortable(observing.startPrometheus(observe.prometheus, nodeExporters), this.signal);
          if (observe.grafana) await abortable(this.#startGrafana(observing, observe.grafana, inventory), this.signal);
          progress.step(`running scenario ${scenario.name} on ${inventory.agents.length} agent(s) of namespace ${inventory.namespace}`);
          observing.setPhase("running");
          scenarioStarted = true;
        },
        afterRun: async () => {
          observing.assertHealthy();
          outcome = finish("passed");
          observing.setPhase("done");
          progress.step(`scenario ${scenario.name} passed in ${(outcome.durationMs / 1000).toFixed(2)}s`);
          if (spec.limits.keepAlive !== false && !this.signal.aborted && (await this.#checksHold(observing))) await this.#keepAlive(spec.limits.keepAlive, () => observing.setPhase("keep-alive"));
          // After a keep-alive, the run is done again, not still being kept alive.
          observing.setPhase("done");
        },
        // Dumps need the fleet still connected: they are taken before runScenario closes it.
        beforeClose: async (_connected, failure) => {
          if (failure) outcome = this.signal.aborted ? (outcome ?? stopped()) : finish("failed", (failure.error as Error)?.message ?? String(failure.error));
          if (outcome && outcome.result !== "passed") observing.setPhase(outcome.result === "failed" ? "failed" : "stopped");
          if (outcome) await longRun.beforeClose(outcome);
          closedOut = true;
        },
      });
      // Set by afterRun already; this tells the type checker.
      outcome ??= finish("passed");
    } catch (error) {
      if (this.signal.aborted) {
        outcome ??= stopped();
      } else {
        outcome = finish("failed", (error as Error).message);
        progress.step(`${scenarioStarted ? `scenario ${scenario.name}` : "setting up the run"} failed: ${(error as Error).message}`);
      }
      if (outcome.result !== "passed") observation?.setPhase(outcome.result === "failed" ? "failed" : "stopped");
    } finally {
      // A run that failed before its fleet was connected still ends its long-run record.
      if (outcome && !closedOut) await longRun.beforeClose(outcome);
      if (observation && outcome) {
        const result = outcome.result === "passed" ? ({ status: "passed" } as const) : ({ status: "failed", error: outcome.error ?? outcome.result } as const);
        await observation.finish(result).catch((error: Error) => progress.step(`recording the run failed: ${error.message}`));
        outcome = longRun.withChecks(outcome, observation);
      }
      await longRun.finish();
      await releaseFleet(context, spec.teardown, inventory, fleet.key.privateKey);
    }
    return outcome;
  }

  /**
   * The checkers' verdict when the scenario ends, before a keep-alive: the website shows it while
   * the fleet is held, and a history found invalid fails the run at once instead of being kept.
   */
  async #checksHold(observation: Observation): Promise<boolean> {
    const checks = await observation.history.checkSoFar(this.spec.limits.checkTimeLimitMs);
    for (const checker of checks.checkers) this.context.progress.step(`checker ${checker.checker} at the scenario's end: ${checker.valid === true ? "valid" : checker.valid === false ? "INVALID" : "unknown"} (${checker.summary})`);
    if (checks.valid !== false) return true;
    this.context.progress.step("the history is not valid: no keep-alive, the run fails and tears down");
    return false;
  }

  /** Waits for a stop, or for the keep-alive's duration; the run keeps the result it had. */
  async #keepAlive(keepAlive: true | number, entered: () => void): Promise<void> {
    entered();
    const how = keepAlive === true ? "until stopped (Ctrl+C or `fieldtest stop`)" : `for ${Math.round(keepAlive / 1000)}s or until stopped`;
    this.context.progress.step(`keeping the agents alive ${how}, then ${this.spec.teardown === "keep" ? "exiting" : "tearing down"}`);
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#keepingAlive = resolve;
      if (keepAlive !== true) timer = setTimeout(resolve, keepAlive);
    });
    clearTimeout(timer);
  }

  /**
   * Un-awaited work of the scenario (a client loop, a promise it dropped) that fails, typically
   * when teardown cuts its connection, is reported and ends nothing: while this run lasts, such
   * rejections are logged instead of crashing the process that runs it.
   */
  #catchStrays(): { dispose(): void } {
    const onStray = (reason: unknown) => this.context.progress.step(`a stray operation of the scenario failed (not awaited by it): ${(reason as Error)?.message ?? String(reason)}`);
    process.on("unhandledRejection", onStray);
    return { dispose: () => process.off("unhandledRejection", onStray) };
  }

  /** Grafana lives as long as the fleet: labelled with its namespace and ended at its expiry. */
  #startGrafana(observation: Observation, grafana: { image: string; port: number }, inventory: Inventory): Promise<void> {
    const expiresAt = new Date(inventory.expiresAt);
    const grafanaDir = join(this.context.packageRoot, "observe", "grafana");
    const owner = this.spec.fleet.kind === "localhost" ? this.spec.fleet.owner : this.context.env.FIELDTEST_OWNER || this.context.env.USER || userInfo().username;
    return observation.startGrafana(this.context.docker(), {
      ...grafana,
      provisioningDir: join(grafanaDir, "provisioning"),
      dashboardsDir: join(grafanaDir, "dashboards"),
      labels: resourceLabels({ namespace: inventory.namespace, expiresAt, owner }),
      ttlSeconds: Math.max(1, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
    });
  }
}

/** config.json of the run directory: what was asked for, never a secret. */
function runConfig(spec: RunSpec, scenario: string, params: Record<string, unknown>, groups: FleetGroup[] | undefined) {
  const { fleet, observation: observe } = spec;
  return {
    scenario,
    reference: spec.scenario,
    params,
    source: fleet.kind === "localhost" ? { ...fleet, groups, keep: spec.teardown === "keep" } : fleet,
    teardown: spec.teardown,
    keepAlive: spec.limits.keepAlive,
    website: observe.website ? { host: observe.website.host, port: observe.website.port, tls: Boolean(observe.website.tls), user: observe.website.auth?.username ?? null } : null,
    prometheus: observe.prometheus ? { port: observe.prometheus.port, scrapeInterval: observe.prometheus.scrapeInterval, alertWebhook: observe.prometheus.alertWebhook ? redactUrl(observe.prometheus.alertWebhook) : null } : null,
    monitoring: observe.monitoring,
    grafana: observe.grafana ?? null,
  };
}
