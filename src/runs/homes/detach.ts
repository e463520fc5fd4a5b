import type { Inventory } from "../../core/inventory.ts";
import type { Namespace } from "../../core/namespace.ts";
import type { RunnerHome } from "../../targets/target.ts";
import { openNamespace } from "../../targets/registry.ts";
import { newRunId } from "../../observe/run-dir.ts";
import { RunInputError, type RunContext } from "../context.ts";
import { acquireFleet, existingKey, liveInventory, planFleet } from "../fleet-source.ts";
import { resolveSpecScenario, specParams } from "../session.ts";
import type { RunSpec } from "../spec.ts";
import { agentProcessHome } from "./agent-process.ts";
import { engineContainerHome } from "./engine-home.ts";
import { localProcessHome } from "./local-process.ts";
import { chooseRunnerHome, runnerHomeOfSpec, type DetachedRun, type RunnerHomeDriver, type StartedRunner } from "./runner-home.ts";

export interface DetachOptions {
  /** `--website-port` was given: a remote runner otherwise takes a free port. */
  websitePortGiven: boolean;
  /** Aborted (Ctrl+C): a fleet made for the run is removed, a runner that started is stopped. */
  signal: AbortSignal;
}

/** A detached run that its runner tracks. */
export interface DetachedOutcome {
  runId: string;
  namespace: Namespace;
  /** As its home sees it (on another machine for remote homes). */
  runDir: string;
  home: RunnerHome["home"];
  /** Where it runs (`container`, `host`, `agent`, `pid`, `website`). */
  details: Record<string, string | number>;
}

/** The driver of a home the target described. */
export function openRunnerHome(context: RunContext, home: RunnerHome): RunnerHomeDriver {
  switch (home.home) {
    case "local-process":
      return localProcessHome(context);
    case "engine-container":
      return engineContainerHome(context, home);
    case "agent-process":
      return agentProcessHome(context, home);
  }
}

/**
 * `run --detach`: the spec's home chosen from its target's descriptor, the spec staged there as
 * run-spec.json, `fieldtest runner` started on it; returns once the runner tracks the run
 * (status.json), or fails with its console's tail. A fleet the parent made for the run is removed
 * if the runner never got it.
 */
export async function detachRun(context: RunContext, spec: RunSpec, options: DetachOptions): Promise<DetachedOutcome> {
  const scenario = await resolveSpecScenario(context, spec.scenario);
  const params = specParams(scenario, spec.params);
  const { descriptor, inventory: known } = await runnerHomeOfSpec(context, spec);
  const home = chooseRunnerHome(descriptor, { ...(spec.fleet.kind === "inventory" ? { inventoryFile: known } : {}), localObservation: spec.observation.prometheus !== undefined });
  if (home.home === "local-process" && home.why) context.progress.step(home.why);
  const driver = openRunnerHome(context, home);
  if (!scenario.path) throw new RunInputError(`scenario ${spec.scenario} has no file to run in the ${driver.where}`);
  const runId = spec.observation.runId ?? newRunId();
  const base = { spec, runId, scenarioPath: scenario.path, websitePortGiven: options.websitePortGiven };
  if (home.home === "local-process") {
    const namespace = spec.fleet.kind === "inventory" ? known!.namespace : spec.fleet.namespace;
    return started(context, driver, { ...base, namespace }, options.signal, home.home);
  }
  const made = spec.fleet.kind === "localhost";
  let inventory: Inventory | undefined = known;
  let keyPath = spec.fleet.kind === "localhost" ? undefined : spec.fleet.keyPath;
  if (spec.fleet.kind === "localhost") {
    const acquired = await acquireFleet(context, spec.fleet, scenario, planFleet(context, spec.fleet, scenario, params), options.signal);
    inventory = acquired.inventory;
    keyPath = acquired.key.keyPath;
  } else if (spec.fleet.kind === "namespace" && !inventory) {
    inventory = await liveInventory(context, spec.fleet.namespace);
  }
  const namespace = inventory?.namespace ?? (spec.fleet.kind === "inventory" ? "?" : spec.fleet.namespace);
  try {
    if (!inventory || inventory.agents.length === 0) throw new Error(`namespace ${namespace} has no running agents to run on`);
    const key = await existingKey(context, namespace, keyPath);
    const teardown = made && spec.teardown === "destroy" ? "end-agents" : "keep";
    const fleet = { inventory, keyPath: key.keyPath, privateKey: key.privateKey, teardown } as const;
    return await started(context, driver, { ...base, namespace, fleet }, options.signal, home.home);
  } catch (error) {
    if (made) {
      context.progress.step(`tearing down namespace ${namespace}`);
      await (await openNamespace(context, namespace)).destroy(false);
    }
    throw error;
  }
}

/** Stages and starts the runner, and waits until it tracks its run. */
async function started(context: RunContext, driver: RunnerHomeDriver, run: DetachedRun, signal: AbortSignal, home: RunnerHome["home"]): Promise<DetachedOutcome> {
  const staged = await driver.stage(run);
  let runner: StartedRunner;
  try {
    runner = await staged.start();
  } catch (error) {
    staged.close();
    throw error;
  }
  try {
    context.progress.step(runner.describe);
    await untilTracked(runner, signal);
    return { runId: staged.runId, namespace: run.namespace, runDir: staged.runDir, home, details: runner.details };
  } finally {
    runner.close();
  }
}

/** Polls the runner's status; an aborted signal stops the runner, and an ended runner is an error with its console's tail. */
async function untilTracked(runner: StartedRunner, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) {
      await runner.stop();
      throw new Error("interrupted while the detached run started: its runner was stopped");
    }
    const status = await runner.status();
    if (status.state === "tracked") return;
    if (status.state === "ended") throw new Error(status.why);
    await new Promise((r) => setTimeout(r, 200));
  }
}
