import type { Inventory } from "../core/inventory.ts";
import { formatDuration, namespaceSchema, type Namespace } from "../core/namespace.ts";
import type { Removal } from "../targets/target.ts";
import { FleetInputError, namespaceState } from "../targets/context.ts";
import { localhostSummaries } from "../targets/localhost/target.ts";
import { openBackend } from "../targets/registry.ts";
import { upLocalhostFleet, upSshFleet, type LocalFleetRequest, type SshHostsRequest } from "../targets/docker-engine/fleet-up.ts";
import { reapEverything } from "../targets/reap.ts";
import { namespacesInState, stateHome } from "../targets/state.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { renderTable, stderrProgress, writeJson } from "./output.ts";
import { printUpResult } from "./up-result.ts";

/**
 * The fleet commands (up on localhost or SSH hosts, list, inventory, destroy, extend, reap): a
 * thin layer that prints what the namespace's backend (src/backends) does.
 */

export type { LocalFleetRequest, SshHostsRequest };
export { namespaceState };

/** Provisions localhost agents for `run --localhost`; a Ctrl+C during it removes what was created. */
export function provisionLocalhost(context: CliContext, request: LocalFleetRequest, interrupt: Interrupt): Promise<Inventory> {
  return upLocalhostFleet(context, request, { progress: stderrProgress(context.stderr), signal: interrupt.signal });
}

/** The live agents of a namespace, wherever its backend keeps them. */
export async function liveInventory(context: CliContext, namespace: Namespace): Promise<Inventory | undefined> {
  return (await openBackend(context, namespace)).inventory();
}

export async function destroyNamespace(context: CliContext, namespace: Namespace, dryRun: boolean): Promise<Removal> {
  return (await openBackend(context, namespace)).destroy(dryRun);
}

export async function upCommand(context: CliContext, request: LocalFleetRequest, sshHosts: SshHostsRequest | undefined, json: boolean, interrupt: Interrupt): Promise<void> {
  const control = { progress: stderrProgress(context.stderr), signal: interrupt.signal };
  const inventory = sshHosts ? await upSshFleet(context, request, sshHosts, control) : await upLocalhostFleet(context, request, control);
  printUpResult(context, request.namespace, inventory, json);
}

function expiresIn(iso: string | null, now = Date.now()): string {
  return iso ? formatDuration((Date.parse(iso) - now) / 1000) : "?";
}

export async function listCommand(context: CliContext, namespace: Namespace | undefined, json: boolean): Promise<void> {
  if (namespace === undefined) {
    const recorded = await Promise.all(
      (await namespacesInState(stateHome(context.env)))
        .filter((name) => namespaceSchema.safeParse(name).success)
        .map(async (name) => openBackend(context, name)),
    );
    const elsewhere = await Promise.all(recorded.filter((backend) => backend.kind !== "localhost").map((backend) => backend.summary()));
    // An SSH host may be this machine: its agents then show here too, and the record says what they are.
    const local = (await localhostSummaries(context)).filter((s) => !elsewhere.some((r) => r.namespace === s.namespace));
    const summaries = [...local, ...elsewhere].sort((a, b) => a.namespace.localeCompare(b.namespace));
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
  const agents = await (await openBackend(context, namespace)).agents();
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
  const backend = await openBackend(context, namespace);
  const now = new Date();
  const { names, expiresAt } = await backend.extend({ expiresAt: new Date(now.getTime() + ttlSeconds * 1000), ttl, ttlSeconds, now, replaceVms: options.replaceVms });
  if (names.length === 0) throw new FleetInputError(`namespace ${namespace} has no agents to extend; create them with \`fieldtest up --namespace ${namespace}\``);
  if (backend.kind !== "pulumi") await namespaceState(context, namespace).writeExpiry(expiresAt);
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
