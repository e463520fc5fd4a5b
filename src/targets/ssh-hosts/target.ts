import { readFile } from "node:fs/promises";
import type { Inventory } from "../../core/inventory.ts";
import { LABELS, type Namespace } from "../../core/namespace.ts";
import { removeHostNamespaceDir } from "../../transport/host-state.ts";
import { FleetInputError, namespaceState, type TargetContext } from "../context.ts";
import { agentContainers, agentRow, containerName, reapedContainers, refuseEarlierExpiry, removal } from "../docker-engine/containers.ts";
import { provisionEngineFleet, type EngineFleetRequest } from "../docker-engine/fleet-up.ts";
import type { LabelledContainer } from "../docker-engine/labels.ts";
import { extendLocalhost, namespaceContainers, reapLocalhost, type ReapScope } from "../docker-engine/provisioner.ts";
import { containerPlan, limitProblem } from "../pulumi/plan.ts";
import type { AgentRow, Extension, ExtendRequest, NamespaceSummary, OpenNamespace, Reaper, Removal, RunnerHome, Target, TargetReap, UpControl } from "../target.ts";
import { destroySshFleet, pinnedHostAccess, sshFleetInventory, upSshHosts } from "./fleet.ts";
import { formatSshHost, knownHostKey, type SshHost } from "./host-spec.ts";
import { sshFleetRecordSchema, type SshFleetRecord } from "./record.ts";
import { hostConnection, remoteDocker, type HostAccess } from "./remote-engine.ts";

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
class SshHostsNamespace implements OpenNamespace {
  readonly target = sshHostsTarget;

  constructor(
    private readonly context: TargetContext,
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
    // What `reap` reads to know when the state may go.
    if (extended.flat().length) await namespaceState(this.context, this.namespace).writeExpiry(expiresAt);
    return { expiresAt, names: extended.flat().map(containerName).sort() };
  }

  async holding(): Promise<string> {
    return `holds agents on SSH hosts (${describeHosts(this.record)})`;
  }

  /** A runner container on the first host's engine. */
  runnerHome(): RunnerHome {
    return { home: "engine-container", engine: "ssh-host", hosts: this.record.hosts, operatorKeyPath: this.record.operatorKeyPath };
  }

  async reapState(now: Date, dryRun: boolean, gone: ReadonlySet<string>): Promise<boolean> {
    const state = namespaceState(this.context, this.namespace);
    const expiresAt = await state.readExpiry();
    if (!expiresAt || expiresAt > now) return false;
    // Unreachable hosts may still hold agents: their state (the key that reaches them) stays.
    const left = await this.remainingContainers().catch(() => undefined);
    if (left === undefined || left.some((c) => !gone.has(c.Id))) return false;
    if (dryRun) return true;
    // The local state goes only once the hosts' is gone: it is what reaches them.
    if (!(await this.removeHostState().then(() => true, () => false))) return false;
    await state.remove();
    return true;
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

/** Which hosts, and how to reach them. */
export interface SshHostsRequest {
  hosts: readonly SshHost[];
  /** The operator's private key, which the hosts accept. */
  operatorKeyPath: string;
  /** OpenSSH known_hosts file holding the hosts' keys. */
  knownHostsPath: string;
}

export type SshFleetRequest = EngineFleetRequest & { sshHosts: SshHostsRequest };

/**
 * The expired containers of the SSH hosts the namespaces record, each host once, whatever its
 * namespace; a host that cannot be reached is reported, not fatal.
 */
const sshHostsReaper: Reaper = {
  async reap(_context, { now, dryRun, scope }, namespaces, gone) {
    const report: TargetReap = { expired: [], unreachable: [] };
    const seenHosts = new Set<string>();
    for (const opened of namespaces) {
      if (!(opened instanceof SshHostsNamespace)) continue;
      const hosts = opened.record.hosts.map(formatSshHost).filter((host) => !seenHosts.has(host));
      if (hosts.length === 0) continue;
      hosts.forEach((host) => seenHosts.add(host));
      try {
        const removed = await opened.reapHosts(now, dryRun, scope, hosts);
        removed.forEach((c) => gone.add(c.Id));
        report.expired.push(...reapedContainers(removed, hosts.join(", ")));
      } catch (error) {
        report.unreachable.push({ host: hosts.join(", "), error: (error as Error).message });
      }
    }
    return report;
  },
};

export const sshHostsTarget: Target<SshFleetRecord, SshFleetRequest> = {
  name: "ssh",
  where: "SSH hosts",
  upFlag: "--ssh-host",
  recordSchema: sshFleetRecordSchema,
  reaper: sshHostsReaper,

  async plan(_context, request, limits, now) {
    const fleet = containerPlan(request, "ssh", request.sshHosts.hosts.map(formatSshHost).join(", "), limits, now);
    const problem = limitProblem(fleet);
    return { fleet, ...(problem ? { problem } : {}), prepared: request };
  },

  /** Provisions agents on SSH hosts, whose keys must already be in the known_hosts file. */
  async up(context: TargetContext, request: SshFleetRequest, control: UpControl): Promise<Inventory> {
    const { sshHosts, ...fleet } = request;
    const privateKey = await readOperatorKey(sshHosts.operatorKeyPath);
    const access = await Promise.all(
      sshHosts.hosts.map(async (host) => ({
        host,
        privateKey,
        hostKey: await knownHostKey(sshHosts.knownHostsPath, host).catch((error: Error) => {
          throw new FleetInputError(error.message);
        }),
      })),
    );
    return provisionEngineFleet(context, fleet, control, {
      target: sshHostsTarget,
      record: { hosts: access.map(({ host, hostKey }) => ({ ...host, hostKey })), operatorKeyPath: sshHosts.operatorKeyPath },
      where: `on ${sshHosts.hosts.map(formatSshHost).join(", ")}`,
      up: (options) => upSshHosts({ ...options, hosts: access }),
      sweep: () => destroySshFleet(access, request.namespace, false),
    });
  },

  open(context, namespace, record) {
    if (!record) throw new Error(`namespace ${namespace}: an SSH-hosts namespace needs its record (which hosts); it has none`);
    return new SshHostsNamespace(context, namespace, record);
  },

  /** Without the namespace's record, the hosts' engines are out of reach: a process of this machine. */
  runnerHome: () => ({ home: "local-process" }),

  async listed(_context, recorded) {
    return Promise.all(recorded.map((opened) => opened.summary()));
  },
};
