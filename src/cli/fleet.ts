import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type Docker from "dockerode";
import { formatDuration, expiresAtFromLabels, LABELS, namespaceSchema, type Namespace } from "../core/namespace.ts";
import type { Inventory } from "../core/inventory.ts";
import { assertDockerAvailable } from "../localhost/docker.ts";
import { AGENT_LABELS, isAgentContainer, type LabelledContainer } from "../localhost/labels.ts";
import { destroyLocalhost, listFieldtestContainers, localInventory, namespaceContainers, reapLocalhost, upLocalhost, type ContainerGroup, type UpOptions } from "../localhost/provisioner.ts";
import { ROLE_LABEL } from "../observe/grafana.ts";
import { namespacesInState, NamespaceState, stateHome } from "../state.ts";
import { destroySshFleet, pinnedHostAccess, sshFleetInventory, upSshHosts } from "../ssh-hosts/fleet.ts";
import type { SshFleetRecord } from "../ssh-hosts/record.ts";
import { formatSshHost, knownHostKey, type SshHost } from "../ssh-hosts/host-spec.ts";
import type { HostAccess } from "../ssh-hosts/remote-engine.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import { destroyStackNamespace, pulumiStackOf, reapStacks, stackInventory } from "./cloud.ts";
import { abortable, type Interrupt } from "./interrupt.ts";
import { renderTable, stderrProgress, writeJson } from "./output.ts";

export interface LocalFleetRequest {
  namespace: Namespace;
  groups: ContainerGroup[];
  ttlSeconds: number;
  portsPerAgent: number;
  /** The user's directories of Dockerfiles, searched before fieldtest's own (src/scenario.ts scenarioDockerfileDirs). */
  dockerfileDirs: string[];
  owner: string;
}

export function namespaceState(context: CliContext, namespace: Namespace): NamespaceState {
  return new NamespaceState(stateHome(context.env), namespace);
}

/**
 * What every kind of provisioning shares: progress lines, the namespace's client key, a
 * Ctrl+C that sweeps by label what was made, and the pinned known_hosts file afterwards.
 */
async function provision(
  context: CliContext,
  request: LocalFleetRequest,
  interrupt: Interrupt,
  where: string,
  up: (options: Omit<UpOptions, "engine">) => Promise<Inventory>,
  sweep: () => Promise<unknown>,
): Promise<Inventory> {
  // Here, not in `up` alone: `run --localhost` provisions too, and its teardown would drop the stack's record.
  if (await pulumiStackOf(context, request.namespace)) {
    throw new UsageError(`namespace ${request.namespace} is a Pulumi stack: \`fieldtest destroy --namespace ${request.namespace}\` first, or choose another namespace`);
  }
  const state = namespaceState(context, request.namespace);
  const progress = stderrProgress(context.stderr);
  const groups = request.groups.map((group) => `${group.name} ${group.count} × ${group.image}`).join(", ");
  progress.step(`namespace ${request.namespace}: ${groups} ${where}, ttl ${formatDuration(request.ttlSeconds)}`);
  const options = {
    ...request,
    clientKey: await state.clientKey(),
    images: { projectDirs: request.dockerfileDirs, fieldtestDir: join(context.packageRoot, "dockerfiles") },
    progress,
    signal: interrupt.signal,
  };
  const inventory = await abortable(up(options), interrupt.signal).catch(async (error) => {
    // The provisioner removes its partial fleet itself; an abort may outrun it.
    if (interrupt.signal.aborted) await sweep();
    throw error;
  });
  await state.writeKnownHosts(inventory);
  return inventory;
}

/** This machine's Docker engine, once it answers; otherwise an error saying how to start it. */
async function availableDocker(context: CliContext): Promise<Docker> {
  const docker = context.docker();
  await assertDockerAvailable(docker);
  return docker;
}

/** Provisions localhost agents; a Ctrl+C during it removes what was created. */
export async function provisionLocalhost(context: CliContext, request: LocalFleetRequest, interrupt: Interrupt): Promise<Inventory> {
  const docker = await availableDocker(context);
  const up = async (options: Omit<UpOptions, "engine">) => upLocalhost(docker, { ...options, inboxDir: await namespaceState(context, request.namespace).inbox() });
  return provision(context, request, interrupt, "on localhost", up, () => destroyLocalhost(docker, request.namespace));
}

export interface SshHostsRequest {
  hosts: readonly SshHost[];
  /** The operator's private key, which the hosts accept. */
  operatorKeyPath: string;
  /** OpenSSH known_hosts file holding the hosts' keys. */
  knownHostsPath: string;
}

async function readOperatorKey(path: string): Promise<string> {
  return readFile(path, "utf8").catch((error: Error) => {
    throw new UsageError(`--ssh-key ${path} cannot be read: ${error.message}`);
  });
}

async function accessFromRecord(record: SshFleetRecord): Promise<HostAccess[]> {
  return pinnedHostAccess(record.hosts, await readOperatorKey(record.operatorKeyPath));
}

/** The SSH hosts of a namespace made with `up --ssh-host`, or undefined for a localhost one. */
async function sshHostsOf(context: CliContext, namespace: Namespace): Promise<HostAccess[] | undefined> {
  const record = await namespaceState(context, namespace).readSshFleet();
  return record ? accessFromRecord(record) : undefined;
}

/** Provisions agents on SSH hosts, whose keys must already be in the known_hosts file. */
export async function provisionSshHosts(context: CliContext, request: LocalFleetRequest, hosts: SshHostsRequest, interrupt: Interrupt): Promise<Inventory> {
  const privateKey = await readOperatorKey(hosts.operatorKeyPath);
  const access = await Promise.all(
    hosts.hosts.map(async (host) => ({
      host,
      privateKey,
      hostKey: await knownHostKey(hosts.knownHostsPath, host).catch((error: Error) => {
        throw new UsageError(error.message);
      }),
    })),
  );
  const inventory = await provision(
    context,
    request,
    interrupt,
    `on ${hosts.hosts.map(formatSshHost).join(", ")}`,
    (options) => upSshHosts({ ...options, hosts: access }),
    () => destroySshFleet(access, request.namespace, false),
  );
  const record = { target: "ssh" as const, hosts: access.map(({ host, hostKey }) => ({ ...host, hostKey })), operatorKeyPath: hosts.operatorKeyPath };
  await namespaceState(context, request.namespace).writeSshFleet(record);
  return inventory;
}

/**
 * The live agents of a namespace the state directory records (its Pulumi stack, its SSH hosts);
 * undefined for a namespace with no record, whose agents are on this machine's engine.
 */
async function recordedInventory(context: CliContext, namespace: Namespace): Promise<{ inventory: Inventory | undefined } | undefined> {
  const stack = await pulumiStackOf(context, namespace);
  if (stack) return { inventory: await stackInventory(context, stack) };
  const hosts = await sshHostsOf(context, namespace);
  if (hosts) return { inventory: await sshFleetInventory(hosts, namespace) };
  return undefined;
}

/** The live agents of a namespace: on this machine's engine, on its SSH hosts, or in its Pulumi stack. */
export async function liveInventory(context: CliContext, namespace: Namespace): Promise<Inventory | undefined> {
  const recorded = await recordedInventory(context, namespace);
  if (recorded) return recorded.inventory;
  const docker = await availableDocker(context);
  return localInventory(docker, namespace);
}

export async function destroyNamespace(context: CliContext, namespace: Namespace, dryRun: boolean): Promise<LabelledContainer[]> {
  const hosts = await sshHostsOf(context, namespace);
  let removed: LabelledContainer[];
  if (hosts) {
    removed = await destroySshFleet(hosts, namespace, dryRun);
  } else {
    const docker = await availableDocker(context);
    removed = await destroyLocalhost(docker, namespace, dryRun);
  }
  if (!dryRun) await namespaceState(context, namespace).remove();
  return removed;
}

export async function upCommand(context: CliContext, request: LocalFleetRequest, sshHosts: SshHostsRequest | undefined, json: boolean, interrupt: Interrupt): Promise<void> {
  const inventory = sshHosts ? await provisionSshHosts(context, request, sshHosts, interrupt) : await provisionLocalhost(context, request, interrupt);
  printUpResult(context, request.namespace, inventory, json);
}

/** The new fleet: its inventory as JSON, or a table with the commands that use it. */
export function printUpResult(context: CliContext, namespace: Namespace, inventory: Inventory, json: boolean): void {
  if (json) return writeJson(context.stdout, inventory);
  context.stdout.write(agentTable(inventory));
  const state = namespaceState(context, namespace);
  const first = inventory.agents[0];
  if (first) {
    context.stdout.write(
      `\nssh into an agent:  ssh -i ${state.clientKeyPath} -o UserKnownHostsFile=${state.knownHostsPath} -p ${first.sshPort} ${first.user}@${first.host}\n` +
        `run a scenario:     npx fieldtest run <scenario> --namespace ${namespace}\n` +
        `tear down:          npx fieldtest destroy --namespace ${namespace}   (or wait for the TTL)\n`,
    );
  }
}

function agentTable(inventory: Inventory): string {
  const now = Date.now();
  return renderTable(
    ["AGENT", "ADDRESS", "PORTS", "EXPIRES IN"],
    inventory.agents.map((a) => {
      const expires = expiresAtFromLabels(a.labels);
      return [a.name, `${a.host}:${a.sshPort}`, `${a.portRange[0]}-${a.portRange[1]}`, expires ? formatDuration((expires.getTime() - now) / 1000) : "?"];
    }),
  );
}

interface NamespaceSummary {
  namespace: string;
  target: "localhost" | "ssh" | "gcp" | "aws";
  /** null where counting them would need the Pulumi CLI or an unreachable host. */
  agents: number | null;
  running: number | null;
  owner: string;
  expiresAt: string | null;
  note?: string;
}

function summarize(containers: readonly LabelledContainer[]): NamespaceSummary[] {
  const byNamespace = new Map<string, LabelledContainer[]>();
  for (const container of containers) {
    const namespace = container.Labels[LABELS.namespace] ?? "";
    byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), container]);
  }
  return [...byNamespace.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([namespace, members]) => {
      const expiries = members.map((c) => expiresAtFromLabels(c.Labels)?.getTime()).filter((t): t is number => t !== undefined);
      return {
        namespace,
        target: "localhost",
        agents: members.length,
        running: members.filter((c) => c.State === "running").length,
        owner: members[0]?.Labels[LABELS.owner] ?? "",
        expiresAt: expiries.length ? new Date(Math.min(...expiries)).toISOString() : null,
      };
    });
}

/**
 * Namespaces whose agents are not containers of this engine: SSH-host fleets, counted on their
 * hosts, and Pulumi stacks, shown as recorded (reading a stack needs the Pulumi CLI).
 */
async function recordedSummaries(context: CliContext): Promise<NamespaceSummary[]> {
  const rows = await Promise.all(
    (await namespacesInState(stateHome(context.env))).map(async (name): Promise<NamespaceSummary | undefined> => {
      const parsed = namespaceSchema.safeParse(name);
      if (!parsed.success) return undefined;
      const namespace = parsed.data;
      const state = namespaceState(context, namespace);
      const stack = await state.readPulumiStack();
      if (stack) {
        return { namespace, target: stack.cloud, agents: null, running: null, owner: "", expiresAt: null, note: `Pulumi stack ${stack.stack}: list --namespace ${namespace} reads it` };
      }
      try {
        const hosts = await sshHostsOf(context, namespace);
        if (!hosts) return undefined;
        const inventory = await sshFleetInventory(hosts, namespace);
        const agents = inventory?.agents.length ?? 0;
        return { namespace, target: "ssh", agents, running: agents, owner: inventory?.agents[0]?.labels[LABELS.owner] ?? "", expiresAt: inventory?.expiresAt ?? null };
      } catch (error) {
        return { namespace, target: "ssh", agents: null, running: null, owner: "", expiresAt: null, note: `hosts not reachable: ${(error as Error).message}` };
      }
    }),
  );
  return rows.filter((row): row is NamespaceSummary => row !== undefined);
}

export async function listCommand(context: CliContext, namespace: Namespace | undefined, json: boolean): Promise<void> {
  const now = Date.now();
  const expiresIn = (iso: string | null) => (iso ? formatDuration((Date.parse(iso) - now) / 1000) : "?");
  if (namespace === undefined) {
    const recorded = await recordedSummaries(context);
    // An SSH host may be this machine: its agents then show here too, and the record says what they are.
    const local = summarize((await listFieldtestContainers(await availableDocker(context))).filter(isAgentContainer)).filter((s) => !recorded.some((r) => r.namespace === s.namespace));
    const summaries = [...local, ...recorded].sort((a, b) => a.namespace.localeCompare(b.namespace));
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
  const recorded = await recordedInventory(context, namespace);
  if (recorded) {
    const agents = (recorded.inventory?.agents ?? []).map((a) => ({
      name: a.name,
      address: `${a.host}:${a.sshPort}`,
      portRange: `${a.portRange[0]}-${a.portRange[1]}`,
      state: "running",
      expiresAt: expiresAtFromLabels(a.labels)?.toISOString() ?? null,
    }));
    if (json) return writeJson(context.stdout, agents);
    context.stdout.write(
      agents.length
        ? renderTable(["AGENT", "ADDRESS", "PORTS", "STATE", "EXPIRES IN"], agents.map((a) => [a.name, a.address, a.portRange, a.state, expiresIn(a.expiresAt)]))
        : `no agents in namespace ${namespace}\n`,
    );
    return;
  }
  const containers = (await namespaceContainers(await availableDocker(context), namespace)).filter(isAgentContainer).sort((a, b) =>
    (a.Labels[AGENT_LABELS.agent] ?? "").localeCompare(b.Labels[AGENT_LABELS.agent] ?? ""),
  );
  const agents = containers.map((c) => ({
    name: c.Labels[AGENT_LABELS.agent] ?? "",
    address: `127.0.0.1:${c.Labels[AGENT_LABELS.sshPort] ?? "?"}`,
    portRange: c.Labels[AGENT_LABELS.portRange] ?? "",
    state: c.State ?? "unknown",
    expiresAt: expiresAtFromLabels(c.Labels)?.toISOString() ?? null,
    containerId: c.Id.slice(0, 12),
  }));
  if (json) return writeJson(context.stdout, agents);
  if (agents.length === 0) return void context.stdout.write(`no agents in namespace ${namespace}\n`);
  context.stdout.write(
    renderTable(
      ["AGENT", "ADDRESS", "PORTS", "STATE", "EXPIRES IN", "CONTAINER"],
      agents.map((a) => [a.name, a.address, a.portRange, a.state, expiresIn(a.expiresAt), a.containerId]),
    ),
  );
}

export async function inventoryCommand(context: CliContext, namespace: Namespace): Promise<void> {
  const inventory = await liveInventory(context, namespace);
  if (!inventory) throw new UsageError(`namespace ${namespace} has no running agents; create them with \`fieldtest up --localhost --namespace ${namespace}\``);
  writeJson(context.stdout, inventory);
}

/** An agent's name, or the role of a container that serves the namespace's runs (grafana). */
function containerName(container: LabelledContainer): string {
  return container.Labels[AGENT_LABELS.agent] ?? container.Labels[ROLE_LABEL] ?? container.Id.slice(0, 12);
}

export async function destroyCommand(context: CliContext, namespace: Namespace, dryRun: boolean, json: boolean): Promise<void> {
  const stack = await pulumiStackOf(context, namespace);
  let names: string[];
  let what = "agent(s)";
  if (stack) {
    names = (await destroyStackNamespace(context, stack, dryRun)).sort();
  } else {
    const removed = await destroyNamespace(context, namespace, dryRun);
    names = removed.map(containerName).sort();
    if (!removed.every(isAgentContainer)) what = "container(s)";
  }
  if (json) return writeJson(context.stdout, { namespace, dryRun, agents: names, ...(stack ? { stack: stack.stack } : {}) });
  if (stack) context.stdout.write(`${dryRun ? "would destroy" : "destroyed"} Pulumi stack ${stack.stack} (${stack.cloud}) and everything it holds\n`);
  const verb = dryRun ? "would remove" : "removed";
  context.stdout.write(names.length ? `${verb} ${names.length} ${what} of namespace ${namespace}: ${names.join(", ")}\n` : `no agents in namespace ${namespace}\n`);
}

export async function reapCommand(context: CliContext, dryRun: boolean, json: boolean): Promise<void> {
  const docker = await availableDocker(context);
  const now = new Date();
  const reaped = await reapLocalhost(docker, now, dryRun);
  const stacks = await reapStacks(context, now, dryRun);
  const entries = reaped.map((c) => ({ namespace: c.Labels[LABELS.namespace] ?? "", agent: containerName(c) }));
  if (json) return writeJson(context.stdout, { dryRun, expired: entries, stacks });
  const verb = dryRun ? "would remove" : "removed";
  context.stdout.write(entries.length ? `${verb} ${entries.length} expired agent(s): ${entries.map((e) => `${e.namespace}/${e.agent}`).join(", ")}\n` : "no agent on this machine has expired\n");
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
  if (stacks.failed.length) throw new Error(`${stacks.failed.length} expired stack(s) could not be destroyed`);
}
