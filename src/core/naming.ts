/**
 * The one naming rule for agents, used by every provisioner (localhost, SSH hosts, GCP, AWS) and
 * by the inventory, so that `cloud.agent("node-002")` written on a laptop finds the same agent in
 * the cloud: `<group>-<NNN>`, numbered from 001 within its group. A fleet without groups is one
 * group named `agent` (agent-001, agent-002, …). Cloud resources prefix the namespace to the
 * agent's name, because instance names are unique per project or account, not per stack.
 */

/** The group of a fleet that declares none (`--vms N`). */
export const DEFAULT_GROUP = "agent";

/**
 * The group whose one agent runs detached runners (src/runs/homes/agent-process.ts)
 * instead of a scenario's work: runners leave it out of the fleet they give the scenario.
 */
export const ORCHESTRATOR_GROUP = "orchestrator";

/** Three digits per group. */
export const MAX_AGENTS_PER_GROUP = 999;

/** A group name: a DNS label short enough to leave room for `<ns>-` and `-NNN`. */
export const GROUP_NAME_PATTERN = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

/** `agentName("node", 0)` → `node-001`. `index` counts from 0 within the group. */
export function agentName(group: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_AGENTS_PER_GROUP) {
    throw new RangeError(`agent index ${index} of group ${group} is outside 0..${MAX_AGENTS_PER_GROUP - 1}`);
  }
  return `${group}-${String(index + 1).padStart(3, "0")}`;
}

/** The group and 0-based index an agent name encodes, or undefined for a name outside the rule. */
export function parseAgentName(name: string): { group: string; index: number } | undefined {
  const match = /^(.+)-(\d{3})$/.exec(name);
  if (!match || Number(match[2]) === 0) return undefined;
  return { group: match[1]!, index: Number(match[2]) - 1 };
}

/** Name of an agent's cloud resources (VM, disk, host key): `<ns>-<group>-<NNN>`. */
export function cloudResourceName(namespace: string, agent: string): string {
  return `${namespace}-${agent}`;
}
