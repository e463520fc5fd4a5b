import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { namespaceState } from "../targets/context.ts";
import { openNamespace, upNamespace } from "../targets/registry.ts";
import { localhostTarget } from "../targets/localhost/target.ts";
import { readInventoryFile, scenarioInventory, withTrustedInboxes, type Inventory } from "../core/inventory.ts";
import type { Namespace } from "../core/namespace.ts";
import { containerPlan, limitProblem, renderPlan } from "../targets/pulumi/plan.ts";
import { FleetError, scenarioGroups, type FleetGroup } from "../scenario/scenario-fleet.ts";
import { scenarioDockerfileDirs, type Scenario } from "../scenario/scenario.ts";
import { stateHome } from "../targets/state.ts";
import { RunInputError, type RunContext } from "./context.ts";
import { endAgents } from "./end-agents.ts";
import type { FleetSource, Teardown } from "./spec.ts";

/**
 * Where a run's fleet comes from and where it goes: the one place runs/ calls the provisioners
 * (a fleet made for the run, a namespace's live agents, an inventory file) and removes what the
 * run made, through the targets' registry.
 */

export interface ClientKey {
  privateKey: string;
  /** The file it came from, which the website's debug commands name. */
  keyPath: string;
}

export interface AcquiredFleet {
  inventory: Inventory;
  key: ClientKey;
}

type LocalhostSource = Extract<FleetSource, { kind: "localhost" }>;

/** The groups a fleet made for the run has, after its plan is shown and checked, before anything is made. */
export function planFleet(context: RunContext, source: LocalhostSource, scenario: Scenario, params: Record<string, unknown>): FleetGroup[] {
  let groups: FleetGroup[];
  try {
    groups = scenarioGroups(scenario, params, source.overrides);
  } catch (error) {
    if (error instanceof FleetError) throw new RunInputError(error.message);
    throw error;
  }
  const plan = containerPlan({ ...source, groups }, "localhost", "this machine's Docker engine", source.limits, new Date());
  context.stderr.write(renderPlan(plan));
  const problem = limitProblem(plan);
  if (problem) throw new RunInputError(problem);
  return groups;
}

/** Provisions the planned groups, or loads an existing fleet's inventory and its client key. */
export async function acquireFleet(context: RunContext, source: FleetSource, scenario: Scenario, groups: FleetGroup[], signal: AbortSignal): Promise<AcquiredFleet> {
  if (source.kind === "inventory") {
    const file = await readInventoryFile(resolve(context.cwd, source.path)).catch((error: Error) => {
      throw new RunInputError(error.message);
    });
    // The orchestrator agent runs detached runners, never the scenario's work.
    const { inventory, ignored } = withTrustedInboxes(scenarioInventory(file), stateHome(context.env));
    if (ignored.length) context.progress.step(`${source.path}: inbox of ${ignored.join(", ")} is outside ${stateHome(context.env)} and was ignored; copies go over SSH`);
    return { inventory, key: await existingKey(context, inventory.namespace, source.keyPath) };
  }
  if (source.kind === "namespace") {
    const live = await liveInventory(context, source.namespace);
    const inventory = live && scenarioInventory(live);
    if (!inventory) {
      throw new RunInputError(
        `namespace ${source.namespace} has no running agents: create them with \`fieldtest up --localhost --namespace ${source.namespace}\`, or add --localhost to make a fleet for this run only`,
      );
    }
    return { inventory, key: await existingKey(context, source.namespace, source.keyPath) };
  }
  const { kind: _kind, overrides: _overrides, limits: _limits, ...request } = source;
  const inventory = await upNamespace(context, localhostTarget, request.namespace, { ...request, groups, dockerfileDirs: scenarioDockerfileDirs(scenario, context.cwd) }, { progress: context.progress, signal });
  const state = namespaceState(context, source.namespace);
  return { inventory, key: { privateKey: (await state.clientKey()).privateKey, keyPath: state.clientKeyPath } };
}

/** The live agents of a namespace, wherever its target keeps them. */
export async function liveInventory(context: RunContext, namespace: Namespace): Promise<Inventory | undefined> {
  return (await openNamespace(context, namespace)).inventory();
}

/** The key the spec names, or the namespace's own. */
export async function existingKey(context: Pick<RunContext, "env" | "cwd">, namespace: Namespace, keyPath: string | undefined): Promise<ClientKey> {
  if (keyPath === undefined) {
    const state = namespaceState(context, namespace);
    const privateKey = await state.existingPrivateKey().catch((error: Error) => {
      throw new RunInputError(error.message);
    });
    return { privateKey, keyPath: state.clientKeyPath };
  }
  const path = resolve(context.cwd, keyPath);
  const privateKey = await readFile(path, "utf8").catch((error: Error) => {
    throw new RunInputError(`--ssh-key ${keyPath} cannot be read: ${error.message}`);
  });
  return { privateKey, keyPath: path };
}

/** What the teardown says: the fleet removed, ended from inside, or left running. */
export async function releaseFleet(context: RunContext, teardown: Teardown, inventory: Inventory, privateKey: string): Promise<void> {
  const { progress } = context;
  const { namespace } = inventory;
  if (teardown === "destroy") {
    progress.step(`tearing down namespace ${namespace}`);
    await (await openNamespace(context, namespace)).destroy(false);
  } else if (teardown === "end-agents") {
    progress.step(`ending the agents of namespace ${namespace}`);
    for (const { agent, error } of await endAgents(inventory, privateKey)) progress.step(`${agent} could not be ended (${error}); its TTL removes it`);
  } else {
    progress.step(`agents of namespace ${namespace} are still running: \`fieldtest destroy --namespace ${namespace}\` removes them`);
  }
}
