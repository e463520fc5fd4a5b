import { join } from "node:path";
import { agentPortRange, parseExpiresAt, parseStackConfig, StackConfigError, type StackConfig } from "../../core/stack-config.ts";
import { describeExposure } from "../../core/exposure.ts";
import { CLOUD_TARGETS, DEFAULT_MACHINE_TYPES, DEFAULT_MAX_VMS, type CloudTarget } from "../../core/defaults.ts";
import type { Target } from "../../core/inventory.ts";
import { expiresAtFromLabels, expiryAfter, formatDuration, isoSeconds, LABELS, parseTtl, resourceLabels, type Namespace } from "../../core/namespace.ts";
import type { ImageSource } from "../../core/image-catalog.ts";
import { dockerfileName } from "../../core/images.ts";
import { agentName, DEFAULT_GROUP } from "../../core/naming.ts";
import { formatShape, sizeOfMachineType, type InstanceType, type Shape } from "../../core/shapes.ts";

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
  /** `--ttl` was given: on an existing stack, it moves the anchored expiry. */
  ttlGiven?: boolean;
  /** `--ssh-source-range`; without it, the stack file's `fieldtest:sshSourceRanges` stays. */
  sshSourceRanges?: string[];
  groups: AgentGroupRequest[];
  image: string;
  /** The project's folders of `<alias>.Dockerfile`, absolute, searched before fieldtest's own (as on localhost). */
  dockerfileDirs: string[];
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

const plain = (value: string | number) => ({ value: String(value) });

/** The stack config keys that anchor a fleet's lifetime. */
export function expiryConfig(expiresAt: Date, ttl: string): StackConfigMap {
  return { "fieldtest:expiresAt": plain(isoSeconds(expiresAt)), "fieldtest:ttl": plain(ttl) };
}

export function stackConfigMap(request: CloudFleetRequest, expiresAt: Date): StackConfigMap {
  const map: StackConfigMap = {
    "fieldtest:target": plain(request.target),
    "fieldtest:owner": plain(request.owner),
    ...expiryConfig(expiresAt, request.ttl),
    "fieldtest:agents": plain(
      JSON.stringify(request.groups.map(({ name, count, machineType, shape, image }) => ({ name, count, machineType, ...(shape?.diskGb ? { diskGb: shape.diskGb } : {}), image: image ?? request.image }))),
    ),
    "fieldtest:portsPerAgent": plain(request.portsPerAgent),
    "fieldtest:maxVms": plain(request.maxVms),
    "fieldtest:dockerfileDirs": plain(JSON.stringify(request.dockerfileDirs)),
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
  imageAliases: (projectDirs: readonly string[]) => readonly string[],
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
        // A group's image comes from --image or the scenario's group, not from the flags that size the groups.
        if (/^fieldtest:agents\[\d+\]\.image:/.test(problem)) return `--image or the scenario's image (${problem})`;
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
 * Why moving a live stack's expiry needs the user's word (`--replace-vms`): it replaces every VM,
 * and with them the agents' disks, daemons and any run on them.
 */
export function vmReplacement(namespace: Namespace): string {
  return (
    `moving the expiry of namespace ${namespace}, a Pulumi stack, replaces every one of its VMs (their boot scripts carry the expiry): ` +
    "the agents' disks, their daemons and any run on them, a detached run included, end"
  );
}

/** vmReplacement, when the change replaces VMs that live (not for a new stack, a kept expiry, or VMs gone already). */
export function replacementWarning(change: ExpiryChange, namespace: Namespace): string | undefined {
  return change.kind === "moved" ? vmReplacement(namespace) : undefined;
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
  groups: PlannedGroup[];
  ttlSeconds: number;
  expiresAt: Date;
  maxVms: number;
  /** How this `up` sets the expiry of an anchored (Pulumi) fleet. */
  expiry?: string;
  /** What the fleet opens to whom, one line per rule. */
  exposure?: string[];
  /** The images a cloud fleet builds here and pushes to its registry, one line each. */
  images?: string[];
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

/**
 * `config`, the checked stack config, gives the exposure lines; without it (a config that the
 * check refused) the plan shows the agents only.
 */
export function cloudPlan(request: CloudFleetRequest, expiry: ExpiryChange, now: Date, config?: StackConfig, images?: string[]): FleetPlan {
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
        firstAgent: agentName(group.name, 0),
        lastAgent: agentName(group.name, group.count - 1),
      };
    }),
    ttlSeconds: request.ttlSeconds,
    expiresAt: expiry.expiresAt,
    ...limitsOf(request),
    expiry: describeExpiryChange(expiry, now),
    ...(config && config.target !== "ssh" ? { exposure: describeExposure(agentPortRange(config.portsPerAgent), config) } : {}),
    ...(images ? { images } : {}),
  };
}

/** One line per image of a cloud fleet, in build order: its alias, its Dockerfile, the images it extends. */
export function describeImages(order: ReadonlyArray<ImageSource & { bases: readonly string[] }>, fieldtestDir: string): string[] {
  const width = Math.max(...order.map((image) => image.alias.length));
  return order.map(({ alias, dir, bases }) => {
    const file = dir === fieldtestDir ? `fieldtest's dockerfiles/${dockerfileName(alias)}` : join(dir, dockerfileName(alias));
    return `${alias.padEnd(width)}  ${file}${bases.length ? `, extends ${bases.join(", ")}` : ""}`;
  });
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
      firstAgent: agentName(group.name, 0),
      lastAgent: agentName(group.name, group.count - 1),
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
      ...(plan.expiry ? [`  ${plan.expiry}`] : []),
      ...(plan.exposure ? ["  reachable (every other port is closed):", ...plan.exposure.map((line) => `    ${line}`)] : []),
      ...(plan.images
        ? ["  images, built here and pushed to the namespace's registry (a changed Dockerfile or context replaces the VMs that run it; a rebuild of the same files does not):", ...plan.images.map((line) => `    ${line}`)]
        : []),
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
