import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readInventoryFile, scenarioInventory, withTrustedInboxes, type Inventory } from "../core/inventory.ts";
import { stateHome } from "../state.ts";
import { resourceLabels, type Namespace } from "../core/namespace.ts";
import { redactUrl } from "../observe/alerts.ts";
import { startNodeExporters } from "../observe/node-exporter.ts";
import { Observation } from "../observe/observation.ts";
import type { NodeExporterTarget } from "../observe/prometheus.ts";
import type { Cloud } from "../runtime/cloud.ts";
import { containerPlan, type PlanLimits } from "../pulumi/plan.ts";
import { runScenario } from "../run-scenario.ts";
import { loadScenario, resolveScenarioPath, scenarioDockerfileDirs, type Scenario } from "../scenario.ts";
import type { FleetGroup } from "../scenario-fleet.ts";
import { announcePlan } from "./cloud.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import { destroyNamespace, liveInventory, namespaceState, provisionLocalhost, type LocalFleetRequest } from "./fleet.ts";
import { abortable } from "../abort.ts";
import type { Interrupt } from "./interrupt.ts";
import { fleetGroups, scenarioParams, type ScenarioArguments } from "./scenario-options.ts";
import { preflightObserve, type ObserveRequest } from "./observe-options.ts";
import { ownerName } from "./options.ts";
import { prefixedLogSink, stderrProgress, writeJson } from "./output.ts";
import { consoleSink } from "../runs/console.ts";
import { endAgents } from "../runs/end-agents.ts";
import { LongRun, type LongRunOptions } from "../runs/long-run.ts";

/** Where the fleet comes from; each source says whether this run owns (and so removes) it. */
export type FleetSource =
  | { kind: "localhost"; request: Omit<LocalFleetRequest, "groups" | "dockerfileDirs">; limits: PlanLimits; keep: boolean }
  | { kind: "namespace"; namespace: Namespace; keyPath: string | undefined }
  | { kind: "inventory"; path: string; keyPath: string | undefined; endAgents?: boolean };

export interface RunRequest {
  scenario: string;
  source: FleetSource;
  /** `--param`, `--params` and the group overrides (which only a fleet made for the run uses). */
  scenarioArgs: ScenarioArguments;
  keepAlive: boolean;
  json: boolean;
  observe: ObserveRequest;
  /** History, console level, log caps, dumps, stop requests (`--daemon-output`, `--log-cap`, detached runs). */
  longRun?: LongRunOptions;
}

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

export async function resolveRunScenario(context: CliContext, reference: string): Promise<Scenario> {
  const path = await resolveScenarioPath(reference, context.cwd, join(context.packageRoot, "scenarios"));
  return loadScenario(path, reference);
}

interface ClientKey {
  privateKey: string;
  /** The file it came from, which the website's debug commands name. */
  keyPath: string;
}

/**
 * What happens to the fleet after the run: `destroy` for one this run made, `end-agents` for one
 * a detached run's parent made for it (the orchestrator container ends them from inside, having
 * no Docker socket), `keep` otherwise.
 */
type Teardown = "destroy" | "end-agents" | "keep";

/** Loads an existing fleet's inventory and its client key, or provisions the scenario's groups on localhost. */
async function acquireFleet(
  context: CliContext,
  request: RunRequest,
  scenario: Scenario,
  groups: FleetGroup[] | undefined,
  interrupt: Interrupt,
): Promise<{ inventory: Inventory; key: ClientKey; teardown: Teardown }> {
  const { source } = request;
  if (source.kind === "inventory") {
    const file = await readInventoryFile(source.path).catch((error) => {
      throw new UsageError((error as Error).message);
    });
    // The orchestrator agent runs detached runners, never the scenario's work.
    const { inventory, ignored } = withTrustedInboxes(scenarioInventory(file), stateHome(context.env));
    if (ignored.length) stderrProgress(context.stderr).step(`${source.path}: inbox of ${ignored.join(", ")} is outside ${stateHome(context.env)} and was ignored; copies go over SSH`);
    return { inventory, key: await existingKey(context, inventory.namespace, source.keyPath), teardown: source.endAgents ? "end-agents" : "keep" };
  }
  if (source.kind === "namespace") {
    const live = await liveInventory(context, source.namespace);
    const inventory = live && scenarioInventory(live);
    if (!inventory) {
      throw new UsageError(
        `namespace ${source.namespace} has no running agents: create them with \`fieldtest up --localhost --namespace ${source.namespace}\`, or add --localhost to make a fleet for this run only`,
      );
    }
    return { inventory, key: await existingKey(context, source.namespace, source.keyPath), teardown: "keep" };
  }
  const inventory = await provisionRunFleet(context, source, scenario, groups ?? [], interrupt);
  const state = namespaceState(context, source.request.namespace);
  return { inventory, key: { privateKey: (await state.clientKey()).privateKey, keyPath: state.clientKeyPath }, teardown: source.keep ? "keep" : "destroy" };
}

type LocalhostSource = Extract<FleetSource, { kind: "localhost" }>;

/** The groups a `run --localhost` makes, after its plan is printed and checked, as for `up`, before anything is made. */
export function planRunFleet(context: CliContext, source: LocalhostSource, scenario: Scenario, params: Record<string, unknown>, scenarioArgs: ScenarioArguments): FleetGroup[] {
  const groups = fleetGroups(scenario, params, scenarioArgs.overrides);
  const plan = containerPlan({ ...source.request, groups }, "localhost", "this machine's Docker engine", source.limits, new Date());
  announcePlan(context, plan);
  return groups;
}

export function provisionRunFleet(context: CliContext, source: LocalhostSource, scenario: Scenario, groups: FleetGroup[], interrupt: Interrupt): Promise<Inventory> {
  return provisionLocalhost(context, { ...source.request, groups, dockerfileDirs: scenarioDockerfileDirs(scenario, context.cwd) }, interrupt);
}

/** The key `--ssh-key` names, or the namespace's own. */
export async function existingKey(context: CliContext, namespace: Namespace, keyPath: string | undefined): Promise<ClientKey> {
  if (keyPath === undefined) {
    const state = namespaceState(context, namespace);
    const privateKey = await state.existingPrivateKey().catch((error) => {
      throw new UsageError((error as Error).message);
    });
    return { privateKey, keyPath: state.clientKeyPath };
  }
  const privateKey = await readFile(keyPath, "utf8").catch((error) => {
    throw new UsageError(`--ssh-key ${keyPath} cannot be read: ${(error as Error).message}`);
  });
  return { privateKey, keyPath };
}

export async function runCommand(context: CliContext, request: RunRequest, interrupt: Interrupt): Promise<RunOutcome> {
  const progress = stderrProgress(context.stderr);
  const scenario = await resolveRunScenario(context, request.scenario);
  const params = await scenarioParams(scenario, request.scenarioArgs);
  const { source } = request;
  let groups: FleetGroup[] | undefined;
  if (source.kind === "localhost") groups = planRunFleet(context, source, scenario, params, request.scenarioArgs);
  const observe = await preflightObserve(request.observe, context.env, context.docker);
  const fleet = await acquireFleet(context, request, scenario, groups, interrupt);
  const { inventory } = fleet;
  const started = Date.now();
  let outcome: RunOutcome | undefined;
  let observation: Observation | undefined;
  let scenarioStarted = false;
  let closedOut = false;
  const longRun = new LongRun(request.longRun ?? {}, context, interrupt, progress);
  try {
    observation = await Observation.start({
      ...longRun.observationOptions(),
      inventory,
      scenario: scenario.name,
      runsDir: observe.runsDir,
      config: runConfig(request, scenario.name, params, groups),
      clientKeyPath: fleet.key.keyPath,
      ...(observe.website ? { website: observe.website } : {}),
      progress,
    });
    progress.step(`run directory ${observation.runDir.path}`);
    const observing = observation;
    const logSink = observing.logSink(consoleSink(longRun.daemonOutput, prefixedLogSink(request.json ? context.stderr : context.stdout)));
    await runScenario(scenario, {
      inventory,
      privateKey: fleet.key.privateKey,
      params,
      logSink,
      observer: observing,
      recording: longRun.cloudOptions(observing),
      signal: interrupt.signal,
      beforeRun: async (connected: Cloud) => {
        await longRun.started(observing, connected, inventory, scenario.name, fleet.key.privateKey);
        let nodeExporters: NodeExporterTarget[] = [];
        if (observe.monitoring) {
          // Exporter chatter belongs on the website and in the run directory, not in the scenario's output.
          nodeExporters = await abortable(startNodeExporters(connected.agents, () => {}), interrupt.signal);
          progress.step(`node exporters running on ${nodeExporters.length} agent(s)`);
        }
        if (observe.prometheus) await abortable(observing.startPrometheus(observe.prometheus, nodeExporters), interrupt.signal);
        if (observe.grafana) await abortable(startRunGrafana(context, observing, observe.grafana, inventory), interrupt.signal);
        progress.step(`running scenario ${scenario.name} on ${inventory.agents.length} agent(s) of namespace ${inventory.namespace}`);
        observing.setPhase("running");
        scenarioStarted = true;
      },
      afterRun: async () => {
        observing.assertHealthy();
        outcome = finish("passed");
        observing.setPhase("done");
        progress.step(`scenario ${scenario.name} passed in ${(outcome.durationMs / 1000).toFixed(2)}s`);
        if (request.keepAlive && !interrupt.signal.aborted) {
          observing.setPhase("keep-alive");
          progress.step(`keeping the agents alive: press Ctrl+C to ${fleet.teardown === "keep" ? "exit" : "tear down"}`);
          await interrupt.requested;
        }
      },
      // Dumps need the fleet still connected: they are taken before runScenario closes it.
      beforeClose: async (_connected, failure) => {
        if (failure) {
          const message = (failure.error as Error)?.message ?? String(failure.error);
          outcome = interrupt.signal.aborted ? (outcome ?? finish("interrupted", "interrupted by the user")) : finish("failed", message);
        }
        if (outcome) await longRun.beforeClose(outcome);
        closedOut = true;
      },
    });
    // Set by afterRun already; this tells the type checker.
    outcome ??= finish("passed");
  } catch (error) {
    if (interrupt.signal.aborted) {
      outcome ??= finish("interrupted", "interrupted by the user");
    } else {
      outcome = finish("failed", (error as Error).message);
      progress.step(`${scenarioStarted ? `scenario ${scenario.name}` : "setting up the run"} failed: ${(error as Error).message}`);
    }
  } finally {
    // A run that failed before its fleet was connected still ends its long-run record.
    if (outcome && !closedOut) await longRun.beforeClose(outcome);
    if (observation && outcome) {
      const result = outcome.result === "passed" ? ({ status: "passed" } as const) : ({ status: "failed", error: outcome.error ?? outcome.result } as const);
      await observation.finish(result).catch((error: Error) => progress.step(`recording the run failed: ${error.message}`));
      outcome = longRun.withChecks(outcome, observation);
    }
    await longRun.finish();
    if (fleet.teardown === "destroy") {
      progress.step(`tearing down namespace ${inventory.namespace}`);
      await destroyNamespace(context, inventory.namespace, false);
    } else if (fleet.teardown === "end-agents") {
      progress.step(`ending the agents of namespace ${inventory.namespace}`);
      for (const { agent, error } of await endAgents(inventory, fleet.key.privateKey)) progress.step(`${agent} could not be ended (${error}); its TTL removes it`);
    } else {
      progress.step(`agents of namespace ${inventory.namespace} are still running: \`fieldtest destroy --namespace ${inventory.namespace}\` removes them`);
    }
  }
  if (request.json) writeJson(context.stdout, outcome);
  return outcome;

  function finish(result: RunOutcome["result"], error?: string): RunOutcome {
    return {
      scenario: scenario.name,
      namespace: inventory.namespace,
      result,
      ...(error === undefined ? {} : { error }),
      durationMs: Date.now() - started,
      agents: inventory.agents.map((a) => a.name),
      ...(observation ? { runDir: observation.runDir.path } : {}),
      ...(observation?.website ? { website: observation.website.url } : {}),
      ...(observation?.prometheus ? { prometheus: observation.prometheus.url } : {}),
    };
  }
}

/** Grafana lives as long as the fleet: labelled with its namespace and ended at its expiry. */
function startRunGrafana(context: CliContext, observation: Observation, grafana: { image: string; port: number }, inventory: Inventory): Promise<void> {
  const expiresAt = new Date(inventory.expiresAt);
  const grafanaDir = join(context.packageRoot, "observe", "grafana");
  return observation.startGrafana(context.docker(), {
    ...grafana,
    provisioningDir: join(grafanaDir, "provisioning"),
    dashboardsDir: join(grafanaDir, "dashboards"),
    labels: resourceLabels({ namespace: inventory.namespace, expiresAt, owner: ownerName(context.env) }),
    ttlSeconds: Math.max(1, Math.floor((expiresAt.getTime() - Date.now()) / 1000)),
  });
}

/** config.json of the run directory: what was asked for, never a secret. */
function runConfig(request: RunRequest, scenario: string, params: Record<string, unknown>, groups: FleetGroup[] | undefined) {
  const { source, observe } = request;
  return {
    scenario,
    reference: request.scenario,
    params,
    source: source.kind === "localhost" ? { kind: source.kind, ...source.request, groups, limits: source.limits, keep: source.keep } : source,
    keepAlive: request.keepAlive,
    website: observe.website ? { host: observe.website.host, port: observe.website.port, tls: Boolean(observe.website.tls), user: observe.website.auth?.username ?? null } : null,
    prometheus: observe.prometheus ? { port: observe.prometheus.port, scrapeInterval: observe.prometheus.scrapeInterval, alertWebhook: observe.prometheus.alertWebhook ? redactUrl(observe.prometheus.alertWebhook) : null } : null,
    monitoring: observe.monitoring,
    grafana: observe.grafana ?? null,
  };
}
