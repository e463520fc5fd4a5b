import { parseStackConfig, StackConfigError, agentName, type StackConfig } from "../../infra/config.ts";
import type { Target } from "../core/inventory.ts";
import { expiresAtFromLabels, expiryAfter, formatDuration, LABELS, resourceLabels, type Namespace } from "../core/namespace.ts";

/**
 * The pure half of `fieldtest up --cloud`: from the command's flags to the stack config and
 * stack tags Pulumi is given, the plan printed before anything happens, and the guard against
 * costly typos. Nothing here needs the Pulumi CLI.
 */

export const CLOUD_TARGETS = ["gcp", "aws"] as const;
export type CloudTarget = (typeof CLOUD_TARGETS)[number];

/** The guard's default: above this many agents, `up` refuses unless --max-vms is raised. */
export const DEFAULT_MAX_VMS = 10;

export const DEFAULT_MACHINE_TYPES: Record<CloudTarget, string> = { gcp: "e2-standard-2", aws: "t3.medium" };

/** The group of `--vms N --machine-type T`: agents named `<ns>-agent-000`, … */
export const DEFAULT_GROUP = "agent";

export interface AgentGroupRequest {
  name: string;
  count: number;
  machineType: string;
}

export interface CloudFleetRequest {
  target: CloudTarget;
  namespace: Namespace;
  owner: string;
  /** As the user wrote it (`2h`); the program parses it again. */
  ttl: string;
  ttlSeconds: number;
  groups: AgentGroupRequest[];
  image: string;
  portsPerAgent: number;
  maxVms: number;
  gcp?: { project: string; zone: string };
  aws?: { region: string };
}

/** What `pulumi config set-all` receives: the keys fieldtest owns; other keys of the stack file stay. */
export type StackConfigMap = Record<string, { value: string; secret?: boolean }>;

export function stackConfigMap(request: CloudFleetRequest): StackConfigMap {
  const plain = (value: string | number) => ({ value: String(value) });
  const map: StackConfigMap = {
    "fieldtest:target": plain(request.target),
    "fieldtest:owner": plain(request.owner),
    "fieldtest:ttl": plain(request.ttl),
    "fieldtest:agents": plain(JSON.stringify(request.groups.map((group) => ({ ...group, image: request.image })))),
    "fieldtest:portsPerAgent": plain(request.portsPerAgent),
    "fieldtest:maxVms": plain(request.maxVms),
  };
  if (request.gcp) {
    map["gcp:project"] = plain(request.gcp.project);
    map["gcp:zone"] = plain(request.gcp.zone);
  }
  if (request.aws) map["aws:region"] = plain(request.aws.region);
  return map;
}

/** Which flag sets each stack config key, so that a config problem names what to fix. */
const FLAG_OF_KEY: Record<string, string> = {
  "fieldtest:target": "--cloud",
  "fieldtest:owner": "FIELDTEST_OWNER",
  "fieldtest:ttl": "--ttl",
  "fieldtest:agents": "--vms/--machine-type/--group",
  "fieldtest:portsPerAgent": "--ports-per-agent",
  "fieldtest:maxVms": "--max-vms",
  "fieldtest:namespace": "--namespace",
  "gcp:project": "--project",
  "gcp:zone": "--zone",
  "aws:region": "--region",
};

export class CloudRequestError extends Error {}

/**
 * Checks the stack config with the Pulumi program's own parser, so that whatever the program
 * would refuse is refused here, before a stack exists; each problem names its flag.
 */
export function checkStackConfig(request: CloudFleetRequest, imageAliases: readonly string[], now: Date): StackConfig {
  const values = Object.fromEntries(Object.entries(stackConfigMap(request)).map(([key, { value }]) => [key, value]));
  try {
    return parseStackConfig(values, { stackName: request.namespace, now, defaultOwner: request.owner, imageAliases });
  } catch (error) {
    if (!(error instanceof StackConfigError)) throw error;
    const lines = error.message
      .split("\n")
      .slice(1)
      .map((line) => {
        const problem = line.trim();
        const key = Object.keys(FLAG_OF_KEY).find((k) => problem.startsWith(`${k}:`) || problem.startsWith(`${k}[`));
        return key ? `${FLAG_OF_KEY[key]} (${problem})` : problem;
      });
    throw new CloudRequestError(lines.join("\n"));
  }
}

/** `node:3:e2-standard-2` → a group of 3 agents of that machine type. */
export function parseGroup(text: string): AgentGroupRequest {
  const match = /^([a-z]([a-z0-9-]*[a-z0-9])?):(\d+):(\S+)$/.exec(text);
  if (!match || Number(match[3]) < 1) {
    throw new CloudRequestError(`--group "${text}" is not <name>:<count>:<machine type>, e.g. node:3:e2-standard-2 (name: lowercase letters, digits and '-')`);
  }
  return { name: match[1]!, count: Number(match[3]), machineType: match[4]! };
}

/** The stack's tags, the same three keys and values as every resource's labels. */
export function stackTags(request: Pick<CloudFleetRequest, "namespace" | "owner" | "ttlSeconds">, now: Date): Record<string, string> {
  return resourceLabels({ namespace: request.namespace, owner: request.owner, expiresAt: expiryAfter(request.ttlSeconds, now) });
}

/** What `up` is about to create, whatever the target. */
export interface FleetPlan {
  namespace: Namespace;
  target: Target;
  /** Where, in words: `project p, zone z`, `on localhost`, `on root@h1:22`. */
  where: string;
  groups: Array<{ name: string; count: number; machineType: string; firstAgent?: string; lastAgent?: string }>;
  ttlSeconds: number;
  expiresAt: Date;
  maxVms: number;
}

export function cloudPlan(request: CloudFleetRequest, now: Date): FleetPlan {
  const where = request.gcp ? `project ${request.gcp.project}, zone ${request.gcp.zone}` : `region ${request.aws?.region ?? "?"}`;
  return {
    namespace: request.namespace,
    target: request.target,
    where,
    groups: request.groups.map((group) => ({
      ...group,
      firstAgent: agentName(request.namespace, group.name, 0),
      lastAgent: agentName(request.namespace, group.name, group.count - 1),
    })),
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiryAfter(request.ttlSeconds, now),
    maxVms: request.maxVms,
  };
}

/** The plan of agents as containers on a Docker engine: this machine's, or SSH hosts'. */
export function containerPlan(
  request: { namespace: Namespace; count: number; image: string; ttlSeconds: number },
  target: "localhost" | "ssh",
  where: string,
  maxVms: number,
  now: Date,
): FleetPlan {
  return {
    namespace: request.namespace,
    target,
    where,
    groups: [{ name: DEFAULT_GROUP, count: request.count, machineType: `container (image ${request.image})` }],
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiryAfter(request.ttlSeconds, now),
    maxVms,
  };
}

export function totalAgents(plan: FleetPlan): number {
  return plan.groups.reduce((sum, group) => sum + group.count, 0);
}

export function renderPlan(plan: FleetPlan): string {
  const typeWidth = Math.max(...plan.groups.map((group) => group.machineType.length));
  const nameWidth = Math.max(...plan.groups.map((group) => group.name.length));
  const lines = plan.groups.map((group) => {
    const names = group.firstAgent ? `  ${group.firstAgent}${group.lastAgent !== group.firstAgent ? ` … ${group.lastAgent}` : ""}` : "";
    return `  ${String(group.count).padStart(4)} × ${group.machineType.padEnd(typeWidth)}  group ${group.name.padEnd(nameWidth)}${names}`.trimEnd();
  });
  return (
    [
      `plan: namespace ${plan.namespace} on ${plan.target} (${plan.where})`,
      ...lines,
      `  ${totalAgents(plan)} agent(s) in all (limit --max-vms ${plan.maxVms}), ttl ${formatDuration(plan.ttlSeconds)}: gone by ${plan.expiresAt.toISOString()} even if nobody destroys them`,
    ].join("\n") + "\n"
  );
}

/** The guard against costly typos: more agents than --max-vms is bad input. */
export function maxVmsProblem(plan: FleetPlan): string | undefined {
  const total = totalAgents(plan);
  if (total <= plan.maxVms) return undefined;
  return `${total} agents exceed --max-vms ${plan.maxVms}, the guard against costly typos: lower --vms, or raise --max-vms to ${total} if you mean it. Nothing was created`;
}

/** A stack as `pulumi stack ls` and its tags describe it. */
export interface StackSummary {
  name: string;
  tags: Record<string, string>;
}

/** Stacks made by fieldtest: those tagged with a namespace. */
export function fieldtestStacks(stacks: readonly StackSummary[]): StackSummary[] {
  return stacks.filter((stack) => stack.tags[LABELS.namespace] !== undefined);
}

/** fieldtest stacks whose `fieldtest-expires-at` tag has passed; a stack without one never expires. */
export function expiredStacks(stacks: readonly StackSummary[], now: Date): StackSummary[] {
  return fieldtestStacks(stacks).filter((stack) => {
    const expiresAt = expiresAtFromLabels(stack.tags);
    return expiresAt !== undefined && expiresAt <= now;
  });
}
