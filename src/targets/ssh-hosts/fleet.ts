import { parseInventory, type Inventory } from "../../core/inventory.ts";
import type { LabelledContainer } from "../docker-engine/labels.ts";
import { destroyLocalhost, localInventory, upLocalhost, type ContainerGroup, type UpOptions } from "../docker-engine/provisioner.ts";
import type { Namespace } from "../../core/namespace.ts";
import { formatSshHost } from "./host-spec.ts";
import type { SshFleetRecord } from "./record.ts";
import { ensureDockerOnHost, remoteDocker, type HostAccess } from "./remote-engine.ts";

/** Access to hosts listed with their pinned keys (a record, a stack's state), all through one operator key. */
export function pinnedHostAccess(hosts: Readonly<SshFleetRecord["hosts"]>, privateKey: string): HostAccess[] {
  return hosts.map(({ hostKey, ...host }) => ({ host, hostKey, privateKey }));
}

/** Like a localhost fleet, each group's agents spread over `hosts` in turn. */
export type UpSshOptions = Omit<UpOptions, "engine"> & { hosts: readonly HostAccess[] };

export function agentsPerHost(count: number, hosts: number): number[] {
  return Array.from({ length: hosts }, (_, i) => Math.floor(count / hosts) + (i < count % hosts ? 1 : 0));
}

/**
 * Runs agent containers on each host's own Docker engine, through the same provisioner as
 * localhost (the Engine API tunnelled over SSH), with sshd on the host's address. Every
 * agent keeps its container-level TTL. If one host fails, the others are cleaned up.
 */
/** Each host's share of every group, numbered on after the agents of that group on the hosts before it. */
export function groupsPerHost(groups: readonly ContainerGroup[], hosts: number): ContainerGroup[][] {
  const shares = groups.map((group) => agentsPerHost(group.count, hosts));
  return Array.from({ length: hosts }, (_, h) =>
    groups
      .map((group, g) => ({ ...group, count: shares[g]![h]!, firstIndex: (group.firstIndex ?? 0) + shares[g]!.slice(0, h).reduce((a, b) => a + b, 0) }))
      .filter((group) => group.count > 0),
  );
}

export async function upSshHosts(options: UpSshOptions): Promise<Inventory> {
  const perHost = groupsPerHost(options.groups, options.hosts.length);
  await Promise.all(options.hosts.map((access) => ensureDockerOnHost(access, options.progress)));
  const results = await Promise.allSettled(
    options.hosts.map((access, i) =>
      perHost[i]!.length === 0
        ? Promise.resolve(undefined)
        : upLocalhost(remoteDocker(access), {
            ...options,
            // Agents on different hosts reach each other only on the hosts' addresses.
            network: options.network ?? "host",
            groups: perHost[i]!,
            progress: { step: (message) => options.progress.step(`${formatSshHost(access.host)}: ${message}`) },
            engine: {
              target: "ssh",
              address: access.host.host,
              listen: "0.0.0.0",
              // Another machine's ports cannot be probed from here; fieldtest's own slices are still disjoint.
              portIsFree: async () => true,
            },
          }),
    ),
  );
  const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) {
    await destroySshFleet(options.hosts, options.namespace, false);
    throw failure.reason;
  }
  const parts = results.map((r) => (r as PromiseFulfilledResult<Inventory | undefined>).value).filter((v): v is Inventory => v !== undefined);
  return mergeInventories(options.namespace, parts);
}

function mergeInventories(namespace: Namespace, parts: readonly Inventory[]): Inventory {
  return parseInventory(
    {
      namespace,
      target: "ssh",
      createdAt: parts.map((p) => p.createdAt).sort()[0] ?? new Date().toISOString(),
      expiresAt: parts.map((p) => p.expiresAt).sort()[0] ?? new Date().toISOString(),
      agents: parts.flatMap((p) => p.agents).sort((a, b) => a.name.localeCompare(b.name)),
    },
    `the agents of namespace ${namespace} on its SSH hosts`,
  );
}

/** The live agents of a namespace, read from the labels on every host's engine. */
export async function sshFleetInventory(hosts: readonly HostAccess[], namespace: Namespace): Promise<Inventory | undefined> {
  const parts = (await Promise.all(hosts.map((access) => localInventory(remoteDocker(access), namespace)))).filter((v): v is Inventory => v !== undefined);
  return parts.length ? mergeInventories(namespace, parts) : undefined;
}

export async function destroySshFleet(hosts: readonly HostAccess[], namespace: Namespace, dryRun: boolean): Promise<LabelledContainer[]> {
  const removed = await Promise.all(hosts.map((access) => destroyLocalhost(remoteDocker(access), namespace, dryRun)));
  return removed.flat();
}
