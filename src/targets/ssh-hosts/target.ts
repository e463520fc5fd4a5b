import { readFile } from "node:fs/promises";
import type { Inventory } from "../../core/inventory.ts";
import { LABELS, type Namespace } from "../../core/namespace.ts";
import { extendLocalhost, namespaceContainers, reapLocalhost, type ReapScope } from "../docker-engine/provisioner.ts";
import type { LabelledContainer } from "../docker-engine/labels.ts";
import { destroySshFleet, pinnedHostAccess, sshFleetInventory } from "./fleet.ts";
import { formatSshHost } from "./host-spec.ts";
import type { SshFleetRecord } from "./record.ts";
import { hostConnection, remoteDocker, type HostAccess } from "./remote-engine.ts";
import { removeHostNamespaceDir } from "../../orchestrator/staging.ts";
import type { AgentRow, Extension, ExtendRequest, FleetBackend, NamespaceSummary, Removal } from "../target.ts";
import { agentContainers, agentRow, containerName, refuseEarlierExpiry, removal } from "../docker-engine/containers.ts";
import { FleetInputError, namespaceState, type BackendContext } from "../context.ts";

export async function readOperatorKey(path: string): Promise<string> {
  return readFile(path, "utf8").catch((error: Error) => {
    throw new FleetInputError(`--ssh-key ${path} cannot be read: ${error.message}`);
  });
}

export function describeHosts(record: SshFleetRecord): string {
  return record.hosts.map(formatSshHost).join(", ");
}

async function removeHostNamespace(access: HostAccess, namespace: Namespace): Promise<void> {
  const ssh = hostConnection(access);
  try {
    await removeHostNamespaceDir(ssh, formatSshHost(access.host), namespace);
  } finally {
    ssh.close();
  }
}

/** A namespace made by `up --ssh-host`: its record names the hosts; their engines hold the agents. */
export class SshHostsBackend implements FleetBackend {
  readonly kind = "ssh";

  constructor(
    private readonly context: BackendContext,
    readonly namespace: Namespace,
    readonly record: SshFleetRecord,
  ) {}

  private async access(): Promise<HostAccess[]> {
    return pinnedHostAccess(this.record.hosts, await readOperatorKey(this.record.operatorKeyPath));
  }

  private async engines() {
    return (await this.access()).map(remoteDocker);
  }

  async inventory(): Promise<Inventory | undefined> {
    return sshFleetInventory(await this.access(), this.namespace);
  }

  async agents(): Promise<AgentRow[]> {
    return (await agentContainers(await this.engines(), this.namespace)).map(agentRow);
  }

  async summary(): Promise<NamespaceSummary> {
    try {
      const agents = await agentContainers(await this.engines(), this.namespace);
      const expiries = agents.map((a) => agentRow(a).expiresAt).filter((e): e is string => e !== null).sort();
      return {
        namespace: this.namespace,
        target: "ssh",
        agents: agents.length,
        running: agents.filter((a) => a.State === "running").length,
        owner: agents[0]?.Labels[LABELS.owner] ?? "",
        expiresAt: expiries[0] ?? null,
      };
    } catch (error) {
      return { namespace: this.namespace, target: "ssh", agents: null, running: null, owner: "", expiresAt: null, note: `hosts not reachable: ${(error as Error).message}` };
    }
  }

  async destroy(dryRun: boolean): Promise<Removal> {
    const access = await this.access();
    const removed = await destroySshFleet(access, this.namespace, dryRun);
    if (!dryRun) {
      await this.removeHostState(access);
      await namespaceState(this.context, this.namespace).remove();
    }
    return removal(removed);
  }

  /** The namespace's state on its hosts: a detached run's staged files and run directory, once its orchestrator is gone. */
  async removeHostState(access?: HostAccess[]): Promise<void> {
    await Promise.all((access ?? (await this.access())).map((host) => removeHostNamespace(host, this.namespace)));
  }

  async extend({ expiresAt }: ExtendRequest): Promise<Extension> {
    const engines = await this.engines();
    refuseEarlierExpiry(this.namespace, await agentContainers(engines, this.namespace), expiresAt);
    const extended = await Promise.all(engines.map((docker) => extendLocalhost(docker, this.namespace, expiresAt)));
    return { expiresAt, names: extended.flat().map(containerName).sort() };
  }

  /** Expired containers (of the scope) on these of the namespace's hosts (all by default), removed unless dry. */
  async reapHosts(now: Date, dryRun: boolean, scope: ReapScope, hosts?: readonly string[]): Promise<LabelledContainer[]> {
    const chosen = (await this.access()).filter((access) => !hosts || hosts.includes(formatSshHost(access.host)));
    const reaped = await Promise.all(chosen.map((access) => reapLocalhost(remoteDocker(access), now, dryRun, scope)));
    return reaped.flat();
  }

  /** Every container of the namespace still on its hosts, agents or not. */
  async remainingContainers(): Promise<LabelledContainer[]> {
    return (await Promise.all((await this.engines()).map((docker) => namespaceContainers(docker, this.namespace)))).flat();
  }
}
