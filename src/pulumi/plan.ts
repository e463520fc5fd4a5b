import { parseStackConfig, StackConfigError, agentName, type StackConfig } from "../../infra/config.ts";
import type { Target } from "../core/inventory.ts";
import { expiresAtFromLabels, expiryAfter, formatDuration, LABELS, resourceLabels, type Namespace } from "../core/namespace.ts";
import { agentName as groupAgentName } from "../core/naming.ts";
import { formatShape, sizeOfMachineType, type InstanceType, type Shape } from "../core/shapes.ts";

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
  /** The shape the machine type was chosen for, when the group declared one. */
  shape?: Shape;
  /** The group's image alias; default: the request's. */
  image?: string;
}

/** The guards of every command that creates agents (TestLooper's max_workers, max_cores, max_ram_gb). */
export interface PlanLimits {
  maxVms: number;
  maxCores?: number;
  maxRamGb?: number;
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
  maxCores?: number;
  maxRamGb?: number;
  /** The stack's machine-type table (`fieldtest:instanceTypes`), for the plan's sizes. */
  instanceTypes?: readonly InstanceType[];
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
    "fieldtest:agents": plain(
      JSON.stringify(request.groups.map(({ name, count, machineType, shape, image }) => ({ name, count, machineType, ...(shape?.diskGb ? { diskGb: shape.diskGb } : {}), image: image ?? request.image }))),
    ),
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
  groups: PlannedGroup[];
  ttlSeconds: number;
  expiresAt: Date;
  maxVms: number;
  maxCores?: number;
  maxRamGb?: number;
}

export interface PlannedGroup {
  name: string;
  count: number;
  /** What each agent runs on, in words: `e2-standard-2`, `container (image debian)`. */
  machineType: string;
  /** The shape the group asked for. */
  shape?: Shape;
  /** Cores and RAM of each agent, when known: the shape, or the machine type's. */
  size?: Pick<Shape, "cores" | "ramGb">;
  firstAgent?: string;
  lastAgent?: string;
}

export function cloudPlan(request: CloudFleetRequest, now: Date): FleetPlan {
  const where = request.gcp ? `project ${request.gcp.project}, zone ${request.gcp.zone}` : `region ${request.aws?.region ?? "?"}`;
  return {
    namespace: request.namespace,
    target: request.target,
    where,
    groups: request.groups.map(({ image: _image, ...group }) => {
      const size = group.shape ?? sizeOfMachineType(request.target, group.machineType, request.instanceTypes);
      return {
        ...group,
        ...(size ? { size: { cores: size.cores, ramGb: size.ramGb } } : {}),
        firstAgent: agentName(request.namespace, group.name, 0),
        lastAgent: agentName(request.namespace, group.name, group.count - 1),
      };
    }),
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiryAfter(request.ttlSeconds, now),
    ...limitsOf(request),
  };
}

function limitsOf(limits: PlanLimits): PlanLimits {
  return {
    maxVms: limits.maxVms,
    ...(limits.maxCores !== undefined ? { maxCores: limits.maxCores } : {}),
    ...(limits.maxRamGb !== undefined ? { maxRamGb: limits.maxRamGb } : {}),
  };
}

/** The plan of agents as containers on a Docker engine (this machine's, or SSH hosts'): a shape is the container's limits. */
export function containerPlan(
  request: { namespace: Namespace; groups: ReadonlyArray<{ name: string; count: number; image: string; shape?: Shape }>; ttlSeconds: number },
  target: "localhost" | "ssh",
  where: string,
  limits: PlanLimits,
  now: Date,
): FleetPlan {
  return {
    namespace: request.namespace,
    target,
    where,
    groups: request.groups.map((group) => ({
      name: group.name,
      count: group.count,
      machineType: `container (image ${group.image}${group.shape ? `, limits ${formatShape(group.shape)}` : ""})`,
      ...(group.shape ? { shape: group.shape, size: { cores: group.shape.cores, ramGb: group.shape.ramGb } } : {}),
      firstAgent: groupAgentName(group.name, 0),
      lastAgent: groupAgentName(group.name, group.count - 1),
    })),
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiryAfter(request.ttlSeconds, now),
    ...limitsOf(limits),
  };
}

export function totalAgents(plan: FleetPlan): number {
  return plan.groups.reduce((sum, group) => sum + group.count, 0);
}

/** Cores and RAM of the whole plan, counting the groups whose size is known, and how many agents are not. */
export function planTotals(plan: FleetPlan): { cores: number; ramGb: number; unsized: number } {
  return plan.groups.reduce(
    (sum, group) =>
      group.size
        ? { ...sum, cores: sum.cores + group.count * group.size.cores, ramGb: sum.ramGb + group.count * group.size.ramGb }
        : { ...sum, unsized: sum.unsized + group.count },
    { cores: 0, ramGb: 0, unsized: 0 },
  );
}

export function renderPlan(plan: FleetPlan): string {
  const kinds = plan.groups.map((group) => `${group.shape ? `${formatShape(group.shape)} → ` : ""}${group.machineType}`);
  const typeWidth = Math.max(...kinds.map((kind) => kind.length));
  const nameWidth = Math.max(...plan.groups.map((group) => group.name.length));
  const lines = plan.groups.map((group, i) => {
    const names = group.firstAgent ? `  ${group.firstAgent}${group.lastAgent !== group.firstAgent ? ` … ${group.lastAgent}` : ""}` : "";
    return `  ${String(group.count).padStart(4)} × ${kinds[i]!.padEnd(typeWidth)}  group ${group.name.padEnd(nameWidth)}${names}`.trimEnd();
  });
  const totals = planTotals(plan);
  const sized = plan.groups.some((group) => group.shape) || plan.maxCores !== undefined || plan.maxRamGb !== undefined;
  const resources = sized ? `, ${totals.cores} cores, ${totals.ramGb} GB${totals.unsized ? ` (and ${totals.unsized} agent(s) of no declared size)` : ""}` : "";
  const limits = [`--max-vms ${plan.maxVms}`, ...(plan.maxCores !== undefined ? [`--max-cores ${plan.maxCores}`] : []), ...(plan.maxRamGb !== undefined ? [`--max-ram-gb ${plan.maxRamGb}`] : [])];
  return (
    [
      `plan: namespace ${plan.namespace} on ${plan.target} (${plan.where})`,
      ...lines,
      `  ${totalAgents(plan)} agent(s)${resources} in all (limit${limits.length > 1 ? "s" : ""} ${limits.join(", ")}), ttl ${formatDuration(plan.ttlSeconds)}: gone by ${plan.expiresAt.toISOString()} even if nobody destroys them`,
    ].join("\n") + "\n"
  );
}

/** The guards against costly typos: more agents, cores or RAM than the limits is bad input. */
export function limitProblem(plan: FleetPlan): string | undefined {
  const total = totalAgents(plan);
  if (total > plan.maxVms) {
    return `${total} agents exceed --max-vms ${plan.maxVms}, the guard against costly typos: lower --vms or --group counts, or raise --max-vms to ${total} if you mean it. Nothing was created`;
  }
  const { cores, ramGb } = planTotals(plan);
  if (plan.maxCores !== undefined && cores > plan.maxCores) {
    return `${cores} cores exceed --max-cores ${plan.maxCores}: ${sizeBreakdown(plan, "cores")}; shrink the groups or their shapes, or raise --max-cores to ${cores}. Nothing was created`;
  }
  if (plan.maxRamGb !== undefined && ramGb > plan.maxRamGb) {
    return `${ramGb} GB of RAM exceed --max-ram-gb ${plan.maxRamGb}: ${sizeBreakdown(plan, "ramGb")}; shrink the groups or their shapes, or raise --max-ram-gb to ${ramGb}. Nothing was created`;
  }
  return undefined;
}

function sizeBreakdown(plan: FleetPlan, key: "cores" | "ramGb"): string {
  return plan.groups
    .filter((group) => group.size)
    .map((group) => `${group.name} ${group.count} × ${group.size![key]}`)
    .join(" + ");
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
