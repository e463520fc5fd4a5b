import { agentPortRange, parseExpiresAt, parseStackConfig, StackConfigError, type StackConfig } from "../../infra/config.ts";
import { describeExposure } from "../../infra/exposure.ts";
import { CLOUD_TARGETS, DEFAULT_MACHINE_TYPES, DEFAULT_MAX_VMS, type CloudTarget } from "../core/defaults.ts";
import type { Target } from "../core/inventory.ts";
import { expiresAtFromLabels, expiryAfter, formatDuration, LABELS, parseTtl, resourceLabels, type Namespace } from "../core/namespace.ts";
import { agentName, DEFAULT_GROUP } from "../core/naming.ts";

/**
 * The pure half of `fieldtest up --cloud`: from the command's flags to the stack config and
 * stack tags Pulumi is given, the plan printed before anything happens, and the guard against
 * costly typos. Nothing here needs the Pulumi CLI.
 */

export { CLOUD_TARGETS, DEFAULT_MACHINE_TYPES, DEFAULT_MAX_VMS, DEFAULT_GROUP, type CloudTarget };

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
  /** `--ttl` was given: on an existing stack, it moves the anchored expiry. */
  ttlGiven?: boolean;
  /** `--ssh-source-range`; without it, the stack file's `fieldtest:sshSourceRanges` stays. */
  sshSourceRanges?: string[];
  groups: AgentGroupRequest[];
  image: string;
  portsPerAgent: number;
  maxVms: number;
  gcp?: { project: string; zone: string };
  aws?: { region: string };
}

/** What `pulumi config set-all` receives: the keys fieldtest owns; other keys of the stack file stay. */
export type StackConfigMap = Record<string, { value: string; secret?: boolean }>;

const plain = (value: string | number) => ({ value: String(value) });

/** The stack config keys that anchor a fleet's lifetime. */
export function expiryConfig(expiresAt: Date, ttl: string): StackConfigMap {
  return { "fieldtest:expiresAt": plain(expiresAt.toISOString()), "fieldtest:ttl": plain(ttl) };
}

export function stackConfigMap(request: CloudFleetRequest, expiresAt: Date): StackConfigMap {
  const map: StackConfigMap = {
    "fieldtest:target": plain(request.target),
    "fieldtest:owner": plain(request.owner),
    ...expiryConfig(expiresAt, request.ttl),
    "fieldtest:agents": plain(JSON.stringify(request.groups.map((group) => ({ ...group, image: request.image })))),
    "fieldtest:portsPerAgent": plain(request.portsPerAgent),
    "fieldtest:maxVms": plain(request.maxVms),
  };
  if (request.sshSourceRanges) map["fieldtest:sshSourceRanges"] = plain(JSON.stringify(request.sshSourceRanges));
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
  "fieldtest:expiresAt": "--ttl",
  "fieldtest:sshSourceRanges": "--ssh-source-range",
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
 * would refuse is refused here, before a stack exists; each problem names its flag. `stored` is
 * what the namespace's stack file already holds (keys the flags do not set stay as they are).
 */
export function checkStackConfig(
  request: CloudFleetRequest,
  imageAliases: readonly string[],
  now: Date,
  expiresAt: Date,
  stored: Readonly<Record<string, unknown>> = {},
): StackConfig {
  const values = { ...stored, ...Object.fromEntries(Object.entries(stackConfigMap(request, expiresAt)).map(([key, { value }]) => [key, value])) };
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

/** `node:3:e2-standard-2` → a group of 3 agents of that machine type; `node:3` takes the target's default type. */
export function parseGroup(text: string, target: CloudTarget): AgentGroupRequest {
  const match = /^([a-z]([a-z0-9-]*[a-z0-9])?):(\d+)(?::(\S+))?$/.exec(text);
  if (!match || Number(match[3]) < 1) {
    throw new CloudRequestError(
      `--group "${text}" is not <name>:<count>[:<machine type>], e.g. node:3:e2-standard-2 or node:3 for ${DEFAULT_MACHINE_TYPES[target]} (name: lowercase letters, digits and '-')`,
    );
  }
  return { name: match[1]!, count: Number(match[3]), machineType: match[4] ?? DEFAULT_MACHINE_TYPES[target] };
}

/** The stack's tags, the same three keys and values as every resource's labels. */
export function stackTags(request: Pick<CloudFleetRequest, "namespace" | "owner">, expiresAt: Date): Record<string, string> {
  return resourceLabels({ namespace: request.namespace, owner: request.owner, expiresAt });
}

/**
 * What an `up` does to the fleet's expiry, which the stack keeps in `fieldtest:expiresAt` so that
 * a repeated `pulumi up` changes nothing: a new fleet anchors it, a later `up` keeps it, and only
 * an explicit `--ttl` (or `extend`) moves it, which replaces the VMs, whose boot scripts carry it.
 */
export type ExpiryChange =
  | { kind: "new"; expiresAt: Date }
  | { kind: "kept"; expiresAt: Date }
  | { kind: "moved"; expiresAt: Date; previous: Date }
  | { kind: "renewed"; expiresAt: Date; previous: Date };

/** `previous`: the stack's anchored expiry, if it has one. */
export function expiryChange(previous: Date | undefined, ttlSeconds: number, ttlGiven: boolean, now: Date): ExpiryChange {
  if (previous === undefined) return { kind: "new", expiresAt: expiryAfter(ttlSeconds, now) };
  if (previous <= now) return { kind: "renewed", expiresAt: expiryAfter(ttlSeconds, now), previous };
  if (!ttlGiven) return { kind: "kept", expiresAt: previous };
  return { kind: "moved", expiresAt: expiryAfter(ttlSeconds, now), previous };
}

export function describeExpiryChange(change: ExpiryChange, now: Date): string {
  const left = formatDuration((change.expiresAt.getTime() - now.getTime()) / 1000);
  const until = `${change.expiresAt.toISOString()} (${left} from now)`;
  switch (change.kind) {
    case "new":
      return `expires at ${until}, anchored in the stack: a later \`up\` keeps it, --ttl or \`extend\` moves it`;
    case "kept":
      return `keeps the stack's expiry, ${until}: --ttl moves it`;
    case "moved":
      return `${change.expiresAt > change.previous ? "extends" : "shortens"} TTL to ${until}, was ${change.previous.toISOString()}: every agent is replaced, since its boot script carries the expiry`;
    case "renewed":
      return `the stack's expiry ${change.previous.toISOString()} has passed (its VMs are gone): a new lifetime until ${until}`;
  }
}

/**
 * Anchors the request's expiry against what the namespace's stack file holds: a kept expiry
 * keeps the stack's `fieldtest:ttl` too, so that nothing derived from it changes either.
 */
export function anchorExpiry(request: CloudFleetRequest, stored: Readonly<Record<string, unknown>>, now: Date): { request: CloudFleetRequest; expiry: ExpiryChange } {
  const previous = storedExpiry(stored);
  const expiry = expiryChange(previous, request.ttlSeconds, Boolean(request.ttlGiven), now);
  const storedTtl = stored["fieldtest:ttl"];
  if (expiry.kind !== "kept" || typeof storedTtl !== "string") return { request, expiry };
  return { request: { ...request, ttl: storedTtl, ttlSeconds: parseTtl(storedTtl) }, expiry };
}

/** The stack file's `fieldtest:expiresAt`; one that is not a time is left to the config check to report. */
function storedExpiry(stored: Readonly<Record<string, unknown>>): Date | undefined {
  const value = stored["fieldtest:expiresAt"];
  if (value === undefined) return undefined;
  try {
    return parseExpiresAt(value);
  } catch {
    return undefined;
  }
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
  /** How this `up` sets the expiry of an anchored (Pulumi) fleet. */
  expiry?: string;
  /** What the fleet opens to whom, one line per rule. */
  exposure?: string[];
}

/**
 * `config`, the checked stack config, gives the exposure lines; without it (a config that the
 * check refused) the plan shows the agents only.
 */
export function cloudPlan(request: CloudFleetRequest, expiry: ExpiryChange, now: Date, config?: StackConfig): FleetPlan {
  const where = request.gcp ? `project ${request.gcp.project}, zone ${request.gcp.zone}` : `region ${request.aws?.region ?? "?"}`;
  return {
    namespace: request.namespace,
    target: request.target,
    where,
    groups: request.groups.map((group) => ({
      ...group,
      firstAgent: agentName(group.name, 0),
      lastAgent: agentName(group.name, group.count - 1),
    })),
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiry.expiresAt,
    maxVms: request.maxVms,
    expiry: describeExpiryChange(expiry, now),
    ...(config && config.target !== "ssh" ? { exposure: describeExposure(agentPortRange(config.portsPerAgent), config) } : {}),
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
      ...(plan.expiry ? [`  ${plan.expiry}`] : []),
      ...(plan.exposure ? ["  reachable (every other port is closed):", ...plan.exposure.map((line) => `    ${line}`)] : []),
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
