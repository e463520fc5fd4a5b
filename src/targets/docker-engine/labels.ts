import { expiresAtFromLabels, LABELS } from "../../core/namespace.ts";
import type { AgentSpec, Inventory } from "../../core/inventory.ts";
import { parseInventory } from "../../core/inventory.ts";
import { parseRange } from "./ports.ts";

/**
 * A localhost agent keeps everything the inventory needs in its container labels, so the
 * Docker engine is the single source of truth: no state file can go stale.
 */
export const AGENT_LABELS = {
  agent: "fieldtest-agent",
  target: "fieldtest-target",
  sshPort: "fieldtest-ssh-port",
  portRange: "fieldtest-port-range",
  hostKey: "fieldtest-host-key",
  createdAt: "fieldtest-created-at",
  image: "fieldtest-image",
  /** The fleet group of the agent (src/core/naming.ts). */
  group: "fieldtest-group",
  /** Where the runner reaches the agent: 127.0.0.1 on localhost, the host's address on SSH hosts. */
  address: "fieldtest-address",
  /** Where other agents reach the agent, when it has an address of its own (src/targets/docker-engine/network.ts). */
  internalAddress: "fieldtest-internal-address",
  /** `own` or `host`: the agent's network mode (src/targets/docker-engine/network.ts); also on namespace networks. */
  network: "fieldtest-network",
  /** The runner's directory mounted read-only at AGENT_INBOX, when the agent has one. */
  inbox: "fieldtest-inbox",
} as const;

export const LOCALHOST_ADDRESS = "127.0.0.1";
export const AGENT_INBOX = "/run/fieldtest-inbox";

export interface LabelledContainer {
  Id: string;
  Labels: Record<string, string>;
  State?: string;
}

export function agentFromLabels(labels: Record<string, string>): AgentSpec {
  const range = parseRange(labels[AGENT_LABELS.portRange]);
  const inbox = labels[AGENT_LABELS.inbox];
  const internalHost = labels[AGENT_LABELS.internalAddress];
  const host = labels[AGENT_LABELS.address] || LOCALHOST_ADDRESS;
  const group = labels[AGENT_LABELS.group];
  return {
    name: labels[AGENT_LABELS.agent] ?? "",
    host,
    ...(internalHost && internalHost !== host ? { internalHost } : {}),
    sshPort: Number(labels[AGENT_LABELS.sshPort]),
    user: "root",
    hostKey: labels[AGENT_LABELS.hostKey] ?? "",
    portRange: range ? [range[0], range[1]] : [0, 0],
    labels: {
      [LABELS.namespace]: labels[LABELS.namespace] ?? "",
      [LABELS.expiresAt]: labels[LABELS.expiresAt] ?? "",
      [LABELS.owner]: labels[LABELS.owner] ?? "",
      image: labels[AGENT_LABELS.image] ?? "",
      network: labels[AGENT_LABELS.network] ?? "host",
    },
    ...(group ? { group } : {}),
    ...(inbox ? { inbox: { hostPath: inbox, agentPath: AGENT_INBOX } } : {}),
  };
}

/** A namespace also labels the containers that serve its runs (Grafana); only agents have a name label. */
export function isAgentContainer(container: LabelledContainer): boolean {
  return container.Labels[AGENT_LABELS.agent] !== undefined;
}

/** The inventory of one namespace's localhost agents, validated like any other inventory. */
export function inventoryFromContainers(namespace: string, containers: readonly LabelledContainer[]): Inventory {
  const labels = containers.filter(isAgentContainer).map((c) => c.Labels);
  const created = labels.map((l) => l[AGENT_LABELS.createdAt]).filter((v): v is string => Boolean(v)).sort();
  const expiries = labels.map((l) => expiresAtFromLabels(l)?.getTime()).filter((v): v is number => v !== undefined);
  return parseInventory(
    {
      namespace,
      target: labels[0]?.[AGENT_LABELS.target] === "ssh" ? "ssh" : "localhost",
      createdAt: created[0] ?? new Date().toISOString(),
      expiresAt: new Date(expiries.length ? Math.min(...expiries) : Date.now()).toISOString(),
      agents: labels.map(agentFromLabels).sort((a, b) => a.name.localeCompare(b.name)),
    },
    `the Docker labels of namespace ${namespace}`,
  );
}
