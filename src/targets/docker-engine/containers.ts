import type Docker from "dockerode";
import { expiresAtFromLabels, LABELS } from "../../core/namespace.ts";
import { withEffectiveExpiry } from "./extension.ts";
import { AGENT_LABELS, isAgentContainer, LOCALHOST_ADDRESS, type LabelledContainer } from "./labels.ts";
import { namespaceContainers } from "./provisioner.ts";
import { ROLE_LABEL } from "../../core/labels.ts";
import type { AgentRow, NamespaceSummary, ReapedContainer, Removal, TargetName } from "../target.ts";
import { FleetInputError } from "../context.ts";

/** What the localhost and SSH-host targets share: a namespace is containers on Docker engines. */

/** An agent's name, or the role of a container that serves the namespace's runs (grafana). */
export function containerName(container: LabelledContainer): string {
  return container.Labels[AGENT_LABELS.agent] ?? container.Labels[ROLE_LABEL] ?? container.Id.slice(0, 12);
}

/** Containers a reap removed (or, dry, would), as its report names them. */
export function reapedContainers(containers: readonly LabelledContainer[], where: string): ReapedContainer[] {
  return containers.map((c) => ({ namespace: c.Labels[LABELS.namespace] ?? "", agent: containerName(c), where }));
}

export function removal(containers: readonly LabelledContainer[]): Removal {
  return { names: containers.map(containerName).sort(), notOnlyAgents: !containers.every(isAgentContainer) };
}

/** The namespace's agent containers on these engines, with their extended expiry where there is one. */
export async function agentContainers(engines: readonly Docker[], namespace: string): Promise<LabelledContainer[]> {
  const perEngine = await Promise.all(
    engines.map(async (docker) => withEffectiveExpiry(docker, (await namespaceContainers(docker, namespace)).filter(isAgentContainer))),
  );
  return perEngine.flat().sort((a, b) => (a.Labels[AGENT_LABELS.agent] ?? "").localeCompare(b.Labels[AGENT_LABELS.agent] ?? ""));
}

export function agentRow(container: LabelledContainer): AgentRow {
  return {
    name: container.Labels[AGENT_LABELS.agent] ?? "",
    address: `${container.Labels[AGENT_LABELS.address] || LOCALHOST_ADDRESS}:${container.Labels[AGENT_LABELS.sshPort] ?? "?"}`,
    portRange: container.Labels[AGENT_LABELS.portRange] ?? "",
    state: container.State ?? "unknown",
    expiresAt: expiresAtFromLabels(container.Labels)?.toISOString() ?? null,
    containerId: container.Id.slice(0, 12),
  };
}

/** One summary per namespace of these agent containers. */
export function summarize(containers: readonly LabelledContainer[], target: TargetName): NamespaceSummary[] {
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
        target,
        agents: members.length,
        running: members.filter((c) => c.State === "running").length,
        owner: members[0]?.Labels[LABELS.owner] ?? "",
        expiresAt: expiries.length ? new Date(Math.min(...expiries)).toISOString() : null,
      };
    });
}

/**
 * `extend` only moves an expiry later: an agent's timer sleeps until the expiry it last read, so
 * an earlier one would not be seen in time. Ending sooner is `destroy`.
 */
export function refuseEarlierExpiry(namespace: string, containers: readonly LabelledContainer[], expiresAt: Date): void {
  const later = containers.map((c) => expiresAtFromLabels(c.Labels)).filter((e): e is Date => e !== undefined && e > expiresAt);
  if (later.length) {
    const latest = new Date(Math.max(...later.map((e) => e.getTime())));
    throw new FleetInputError(`--ttl: namespace ${namespace} already lives until ${latest.toISOString()}, later than that; extend only moves the expiry later (\`fieldtest destroy --namespace ${namespace}\` ends it now)`);
  }
}
