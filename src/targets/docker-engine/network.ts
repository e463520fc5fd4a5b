import { randomInt } from "node:crypto";
import { readFile } from "node:fs/promises";
import type Docker from "dockerode";
import { belongsToNamespace, LABELS, type Namespace } from "../../core/namespace.ts";
import { isGoneOrGoing, isNotFound } from "./docker.ts";
import { AGENT_LABELS } from "./labels.ts";
import { FIRST_AGENT_PORT, type PortRange } from "./ports.ts";

/**
 * How localhost (and SSH-host) agents are networked:
 * - `own`: each agent has its own network namespace and address on a Docker bridge network of
 *   its fieldtest namespace, sshd on 30000 and ports from 30001 as on a VM, and NET_ADMIN so
 *   `cloud.faults` can cut, slow and shape its traffic without touching the host's network.
 * - `host`: agents share the host's network with disjoint port slices; no network fault can
 *   be applied (a rule would hit the host, fieldtest's SSH included), and every agent can
 *   reach every service of the host's loopback.
 */
export const NETWORK_MODES = ["own", "host"] as const;
export type NetworkMode = (typeof NETWORK_MODES)[number];
export const DEFAULT_NETWORK_MODE: NetworkMode = "own";

export const NETWORK_LABEL = AGENT_LABELS.network;

/** Where own-network subnets are taken from: 1,024 /24s of private 172.x space (172.20–172.23). */
const SUBNET_POOL_FIRST = (172 << 24) | (20 << 16);
const SUBNET_POOL_SIZE = 1024;
/** .1 is the bridge's gateway (the host); agents take .2 to .254. */
export const MAX_AGENTS_PER_NETWORK = 253;
const SUBNET_ATTEMPTS = 24;

export interface NamespaceNetwork {
  name: string;
  id: string;
  /** `a.b.c.0/24` */
  subnet: string;
}

export function networkName(namespace: Namespace): string {
  return `fieldtest-${namespace}`;
}

function dotted(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 255).join(".");
}

/** The address of the `index`-th agent (from 0) of a /24: .2 upwards. */
export function agentAddress(subnet: string, index: number): string {
  if (index < 0 || index >= MAX_AGENTS_PER_NETWORK) {
    throw new Error(`agent index ${index}: a namespace network holds at most ${MAX_AGENTS_PER_NETWORK} agents; use --network host or split the fleet`);
  }
  const base = subnet.split("/")[0]!.split(".").map(Number);
  return `${base[0]}.${base[1]}.${base[2]}.${index + 2}`;
}

/** IPv4 routes of this machine (destination, mask), so a subnet never shadows a real network. */
async function hostRoutes(): Promise<Array<{ net: number; mask: number }>> {
  const text = await readFile("/proc/net/route", "utf8").catch(() => "");
  const littleEndian = (hex: string) => Number.parseInt(hex.match(/../g)!.reverse().join(""), 16) >>> 0;
  return text
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 7 && fields[1] !== "00000000")
    .map((fields) => ({ net: littleEndian(fields[1]!), mask: littleEndian(fields[7]!) }));
}

function clashes(candidate: number, routes: ReadonlyArray<{ net: number; mask: number }>): boolean {
  const mask24 = 0xffffff00;
  return routes.some(({ net, mask }) => {
    const common = (mask & mask24) >>> 0;
    return ((candidate & common) >>> 0) === ((net & common) >>> 0);
  });
}

/**
 * The namespace's bridge network, made on first use. Its /24 is chosen from a fixed private
 * pool: a random start (so concurrent namespaces rarely try the same one), skipping this
 * machine's routes (other networks, Docker's included); Docker itself refuses an overlapping
 * subnet atomically, and a refused one is retried with the next. Labelled like every resource.
 */
export async function ensureNamespaceNetwork(docker: Docker, namespace: Namespace, labels: Record<string, string>): Promise<NamespaceNetwork> {
  const existing = await findNamespaceNetwork(docker, namespace);
  if (existing) return existing;
  const start = randomInt(SUBNET_POOL_SIZE);
  let lastError: Error | undefined;
  for (let attempt = 0, tried = 0; attempt < SUBNET_POOL_SIZE && tried < SUBNET_ATTEMPTS; attempt++) {
    const candidate = (SUBNET_POOL_FIRST + ((start + attempt) % SUBNET_POOL_SIZE) * 256) >>> 0;
    // Routes are read per attempt: a concurrent namespace may have just taken one.
    if (clashes(candidate, await hostRoutes())) continue;
    tried++;
    const subnet = `${dotted(candidate)}/24`;
    try {
      const network = await docker.createNetwork({
        Name: networkName(namespace),
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: { ...labels, [NETWORK_LABEL]: "own" },
        IPAM: { Driver: "default", Config: [{ Subnet: subnet, Gateway: dotted(candidate + 1) }] },
      });
      return { name: networkName(namespace), id: network.id, subnet };
    } catch (error) {
      lastError = error as Error;
      const status = (error as { statusCode?: number }).statusCode;
      // 409: a concurrent `up` of the same namespace made it first.
      if (status === 409) {
        const made = await findNamespaceNetwork(docker, namespace);
        if (made) return made;
      }
      if (!/overlap|pool/i.test(lastError.message)) throw error;
    }
  }
  throw new Error(`no free /24 for namespace ${namespace}'s network in 172.20.0.0/14 after ${SUBNET_ATTEMPTS} tries (${lastError?.message ?? "every one is routed on this machine"}); destroy idle namespaces or use --network host`);
}

async function findNamespaceNetwork(docker: Docker, namespace: Namespace): Promise<NamespaceNetwork | undefined> {
  const found = (await docker.listNetworks({ filters: { label: [`${LABELS.namespace}=${namespace}`, NETWORK_LABEL] } })).filter((n) =>
    belongsToNamespace(n.Labels, namespace),
  );
  const network = found[0];
  const subnet = network?.IPAM?.Config?.[0]?.Subnet;
  return network && subnet ? { name: network.Name, id: network.Id, subnet } : undefined;
}

// A force-removed container may still hold its endpoint for a moment (403 "active endpoints").
const NETWORK_REMOVE_ATTEMPTS = 20;

/** Removes the namespace's network (after its containers); returns whether there was one. */
export async function removeNamespaceNetwork(docker: Docker, namespace: Namespace): Promise<boolean> {
  const network = await findNamespaceNetwork(docker, namespace);
  if (!network) return false;
  await removeNetworkOnceFree(docker, network.id);
  return true;
}

/** Removes a network, waiting (bounded) for the endpoints of just-removed containers to go. */
export async function removeNetworkOnceFree(docker: Docker, id: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await docker.getNetwork(id).remove();
      return;
    } catch (error) {
      if (isGoneOrGoing(error)) return;
      if ((error as { statusCode?: number }).statusCode !== 403 || attempt === NETWORK_REMOVE_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Networks of fieldtest whose expiry has passed, with no container attached any more. */
export async function reapNetworks(docker: Docker, now: Date, dryRun: boolean): Promise<string[]> {
  const networks = await docker.listNetworks({ filters: { label: [NETWORK_LABEL] } });
  const expired = networks.filter((n) => {
    const at = Number(n.Labels?.[LABELS.expiresAt]);
    return n.Labels?.[LABELS.namespace] && Number.isFinite(at) && at * 1000 <= now.getTime();
  });
  const removed: string[] = [];
  for (const network of expired) {
    if (!dryRun) {
      const gone = await docker
        .getNetwork(network.Id)
        .remove()
        .then(() => true)
        .catch(isNotFound);
      if (!gone) continue;
    }
    removed.push(network.Name);
  }
  return removed;
}

/** What one agent's container gets from its network mode. */
export interface AgentNetwork {
  /** Parts of the container's HostConfig. */
  hostConfig: { NetworkMode: string; CapAdd?: string[]; PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>> };
  /** The container's NetworkingConfig, for an own network. */
  networkingConfig?: { EndpointsConfig: Record<string, { IPAMConfig: { IPv4Address: string } }> };
  /** Where the runner reaches sshd. */
  host: string;
  sshPort: number;
  /** Where other agents reach this one. */
  internalHost: string;
  /** The port sshd listens on inside the container, and the address it binds. */
  listenPort: number;
  listen: string;
  portRange: PortRange;
}

export type NetworkPlan =
  | { mode: "host"; address: string; listen: string; slice: PortRange }
  | { mode: "own"; network: NamespaceNetwork; index: number; portsPerAgent: number; publish?: { address: string; hostPort: number } };

/**
 * The container settings and addresses of an agent. In the own mode sshd always listens on
 * 30000 and the agent's ports start at 30001, as on a VM; on an SSH host (whose bridge the
 * runner cannot reach) sshd is also published on the host's address, at `publish.hostPort`.
 * NET_ADMIN and NET_RAW, not --privileged: they reach only the agent's own network namespace
 * (its rules, its packets), and iptables-legacy, which is many times faster to change than
 * nf_tables here, needs a raw socket. In host mode both are withheld: there they would reach
 * the host's network, the runner's SSH and the website included.
 */
export function networkConfig(plan: NetworkPlan): AgentNetwork {
  if (plan.mode === "host") {
    return { hostConfig: { NetworkMode: "host" }, host: plan.address, internalHost: plan.address, sshPort: plan.slice[0], listenPort: plan.slice[0], listen: plan.listen, portRange: plan.slice };
  }
  const address = agentAddress(plan.network.subnet, plan.index);
  const portRange: PortRange = [FIRST_AGENT_PORT, FIRST_AGENT_PORT + plan.portsPerAgent - 1];
  const publish = plan.publish;
  return {
    hostConfig: {
      NetworkMode: plan.network.name,
      CapAdd: ["NET_ADMIN", "NET_RAW"],
      ...(publish ? { PortBindings: { [`${FIRST_AGENT_PORT}/tcp`]: [{ HostIp: "0.0.0.0", HostPort: String(publish.hostPort) }] } } : {}),
    },
    networkingConfig: { EndpointsConfig: { [plan.network.name]: { IPAMConfig: { IPv4Address: address } } } },
    host: publish ? publish.address : address,
    sshPort: publish ? publish.hostPort : FIRST_AGENT_PORT,
    internalHost: address,
    listenPort: FIRST_AGENT_PORT,
    listen: "0.0.0.0",
    portRange,
  };
}
