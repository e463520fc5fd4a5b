import type { Inventory } from "../core/inventory.ts";
import { formatDuration, type Namespace } from "../core/namespace.ts";
import { FleetInputError, namespaceState } from "../targets/context.ts";
import type { EngineFleetRequest } from "../targets/docker-engine/fleet-up.ts";
import { listNamespaces } from "../targets/list.ts";
import { localhostTarget } from "../targets/localhost/target.ts";
import { reapEverything } from "../targets/reap.ts";
import { openNamespace, upNamespace } from "../targets/registry.ts";
import type { Removal, Target } from "../targets/target.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { renderTable, stderrProgress, writeJson } from "./output.ts";
import { renderPlan } from "../targets/pulumi/plan.ts";
import { printUpResult } from "./up-result.ts";

/**
 * The fleet commands (up, list, inventory, destroy, extend, reap): a thin layer that prints what
 * the namespace's target (src/targets) does.
 */

export type LocalFleetRequest = EngineFleetRequest;
export { namespaceState };

/** Provisions localhost agents for `run --localhost`; a Ctrl+C during it removes what was created. */
export function provisionLocalhost(context: CliContext, request: LocalFleetRequest, interrupt: Interrupt): Promise<Inventory> {
  return upNamespace(context, localhostTarget, request.namespace, request, { progress: stderrProgress(context.stderr), signal: interrupt.signal });
}

/** The live agents of a namespace, wherever its target keeps them. */
export async function liveInventory(context: CliContext, namespace: Namespace): Promise<Inventory | undefined> {
  return (await openNamespace(context, namespace)).inventory();
}

export async function destroyNamespace(context: CliContext, namespace: Namespace, dryRun: boolean): Promise<Removal> {
  return (await openNamespace(context, namespace)).destroy(dryRun);
}

export interface UpOptions {
  json: boolean;
  /** Print the plan and check it, then stop: nothing is made. */
  dryRun: boolean;
  /** The user's word that `up` may replace VMs where the plan says so (`--replace-vms`). */
  replaceVms: boolean;
}

/** `up` on any target: its plan on stderr (refused above the limits, exit 2), then its fleet. */
export async function upCommand<UpRequest, Prepared>(
  context: CliContext,
  target: Target<unknown, UpRequest, Prepared>,
  request: UpRequest,
  limits: Parameters<Target["plan"]>[2],
  options: UpOptions,
  interrupt: Interrupt,
): Promise<void> {
  const plan = await target.plan(context, request, limits, new Date());
  context.stderr.write(renderPlan(plan.fleet));
  if (plan.problem) throw new UsageError(plan.problem);
  if (options.dryRun) {
    const replacement = plan.replacement && !options.replaceVms ? `; ${plan.replacement}, and up needs --replace-vms to do it` : "";
    return void context.stderr.write(`dry run: nothing was created${replacement}\n`);
  }
  const control = { progress: stderrProgress(context.stderr), signal: interrupt.signal, replaceVms: options.replaceVms };
  const inventory = await upNamespace(context, target, plan.fleet.namespace, plan.prepared, control);
  printUpResult(context, plan.fleet.namespace, inventory, options.json);
}

function expiresIn(iso: string | null, now = Date.now()): string {
  return iso ? formatDuration((Date.parse(iso) - now) / 1000) : "?";
}

export async function listCommand(context: CliContext, namespace: Namespace | undefined, json: boolean): Promise<void> {
  if (namespace === undefined) {
    const summaries = await listNamespaces(context);
    if (json) return writeJson(context.stdout, summaries);
    if (summaries.length === 0) return void context.stdout.write("no fieldtest namespaces on this machine or in its state directory\n");
    context.stdout.write(
      renderTable(
        ["NAMESPACE", "TARGET", "AGENTS", "OWNER", "EXPIRES IN", "NOTE"],
        summaries.map((s) => [s.namespace, s.target, s.agents === null ? "?" : `${s.running}/${s.agents}`, s.owner, expiresIn(s.expiresAt), s.note ?? ""]),
      ),
    );
    return;
  }
  const agents = await (await openNamespace(context, namespace)).agents();
  if (json) return writeJson(context.stdout, agents);
  if (agents.length === 0) return void context.stdout.write(`no agents in namespace ${namespace}\n`);
  const withIds = agents.some((a) => a.containerId !== undefined);
  context.stdout.write(
    renderTable(
      ["AGENT", "ADDRESS", "PORTS", "STATE", "EXPIRES IN", ...(withIds ? ["CONTAINER"] : [])],
      agents.map((a) => [a.name, a.address, a.portRange, a.state, expiresIn(a.expiresAt), ...(withIds ? [a.containerId ?? ""] : [])]),
    ),
  );
}

export async function inventoryCommand(context: CliContext, namespace: Namespace): Promise<void> {
  const inventory = await liveInventory(context, namespace);
  if (!inventory) throw new UsageError(`namespace ${namespace} has no running agents; create them with \`fieldtest up --localhost --namespace ${namespace}\``);
  writeJson(context.stdout, inventory);
}

export async function destroyCommand(context: CliContext, namespace: Namespace, dryRun: boolean, json: boolean): Promise<void> {
  const { names, notOnlyAgents, stack } = await destroyNamespace(context, namespace, dryRun);
  if (json) return writeJson(context.stdout, { namespace, dryRun, agents: names, ...(stack ? { stack: stack.name } : {}) });
  if (stack) context.stdout.write(`${dryRun ? "would destroy" : "destroyed"} Pulumi stack ${stack.name} (${stack.cloud}) and everything it holds\n`);
  const verb = dryRun ? "would remove" : "removed";
  const what = notOnlyAgents ? "container(s)" : "agent(s)";
  context.stdout.write(names.length ? `${verb} ${names.length} ${what} of namespace ${namespace}: ${names.join(", ")}\n` : `no agents in namespace ${namespace}\n`);
}

/** `extend --ttl`: everything of the namespace now expires that long from now. */
export async function extendCommand(context: CliContext, namespace: Namespace, ttl: string, ttlSeconds: number, options: { json: boolean; replaceVms: boolean }): Promise<void> {
  const { json } = options;
  const opened = await openNamespace(context, namespace);
  const now = new Date();
  const { names, expiresAt } = await opened.extend({ expiresAt: new Date(now.getTime() + ttlSeconds * 1000), ttl, ttlSeconds, now, replaceVms: options.replaceVms });
  if (names.length === 0) throw new FleetInputError(`namespace ${namespace} has no agents to extend; create them with \`fieldtest up --namespace ${namespace}\``);
  if (json) return writeJson(context.stdout, { namespace, expiresAt: expiresAt.toISOString(), agents: names });
  context.stdout.write(`namespace ${namespace} now expires in ${formatDuration(ttlSeconds)} (${expiresAt.toISOString()}): ${names.join(", ")}\n`);
}

export async function reapCommand(context: CliContext, options: { dryRun: boolean; json: boolean; owner?: string }): Promise<void> {
  const { dryRun, json } = options;
  const report = await reapEverything(context, { now: new Date(), dryRun, scope: options.owner === undefined ? {} : { owner: options.owner } });
  const { stacks } = report;
  if (json) return writeJson(context.stdout, report);
  const verb = dryRun ? "would remove" : "removed";
  const entries = report.expired;
  context.stdout.write(
    entries.length
      ? `${verb} ${entries.length} expired agent(s): ${entries.map((e) => `${e.namespace}/${e.agent}${e.where === "localhost" ? "" : ` on ${e.where}`}`).join(", ")}\n`
      : "no agent on this machine or its SSH hosts has expired\n",
  );
  if (report.states.length) context.stdout.write(`${verb} the state of ${report.states.length} expired namespace(s): ${report.states.join(", ")}\n`);
  if (stacks.skipped) {
    context.stdout.write(`skipped the Pulumi stacks: ${stacks.skipped}\n`);
  } else {
    const destroyed = stacks.expired.filter((name) => !stacks.failed.some((f) => f.stack === name));
    context.stdout.write(destroyed.length ? `${dryRun ? "would destroy" : "destroyed"} ${destroyed.length} expired Pulumi stack(s): ${destroyed.join(", ")}\n` : "no Pulumi stack has expired\n");
  }
  for (const vm of stacks.leftovers) {
    context.stdout.write(`leftover, tracked by no stack (not removed): ${vm.cloud} ${vm.where} ${vm.name} (namespace ${vm.namespace}, ${vm.state})\n`);
  }
  for (const reason of stacks.leftoversSkipped) context.stdout.write(`did not look for leftover VMs: ${reason}\n`);
  for (const failure of stacks.failed) context.stderr.write(`fieldtest: could not destroy expired stack ${failure.stack}: ${failure.error}\n`);
  for (const host of report.unreachable) context.stderr.write(`fieldtest: could not reap SSH host(s) ${host.host}: ${host.error}\n`);
  if (stacks.failed.length || report.unreachable.length) throw new Error(`${stacks.failed.length} expired stack(s) could not be destroyed, ${report.unreachable.length} SSH host group(s) not reaped`);
}
