import type { CloudTarget } from "../core/defaults.ts";
import { DEFAULT_IMAGE } from "../core/defaults.ts";
import { IMAGE_ALIAS_PATTERN, isPublishedImage } from "../core/images.ts";
import { describeIssues } from "../core/inventory.ts";
import { agentName, DEFAULT_GROUP, MAX_AGENTS_PER_GROUP } from "../core/naming.ts";
import type { Shape } from "../core/shapes.ts";
import { fleetSpecSchema, type FleetSpec, type Scenario } from "./scenario.ts";

/**
 * From a scenario and its parameters to the groups to provision, with the command line's
 * overrides (`--vms`, `--group name=N`, `--image`). Every target provisions these same groups,
 * so the agents get the same names on a laptop and in the cloud.
 */

export interface FleetGroup {
  name: string;
  count: number;
  /** An image alias (`dockerfiles/<alias>.Dockerfile`) or a published image reference. */
  image: string;
  shape?: Shape;
  machineType?: Partial<Record<CloudTarget, string>>;
}

export interface FleetOverrides {
  /** `--vms N`: the count of a one-group fleet. */
  vms?: number;
  /** `--group name=N`: the count of one group. */
  counts?: Readonly<Record<string, number>>;
  /** `--image`: the image of the groups that name none. */
  image?: string;
}

export class FleetError extends Error {}

/** `unit=5` → ["unit", 5]. */
export function parseGroupCount(text: string): [string, number] {
  const match = /^([a-z]([a-z0-9-]*[a-z0-9])?)=(\d+)$/.exec(text);
  if (!match || Number(match[3]) < 1 || Number(match[3]) > MAX_AGENTS_PER_GROUP) {
    throw new FleetError(`--group "${text}" is not <group>=<count>, e.g. --group unit=5 (count 1 to ${MAX_AGENTS_PER_GROUP})`);
  }
  return [match[1]!, Number(match[3])];
}

function declaredFleet(scenario: Scenario, params: Record<string, unknown>): FleetSpec {
  if (scenario.fleet === undefined) return { [DEFAULT_GROUP]: { count: scenario.agentCount } };
  const spec = typeof scenario.fleet === "function" ? scenario.fleet(params) : scenario.fleet;
  const parsed = fleetSpecSchema.safeParse(spec);
  if (!parsed.success) throw new FleetError(`scenario ${scenario.name}: its fleet is not valid with these parameters:\n${describeIssues(parsed.error, "fleet")}`);
  return parsed.data;
}

export function scenarioGroups(scenario: Scenario, params: Record<string, unknown>, overrides: FleetOverrides = {}): FleetGroup[] {
  const fleet = declaredFleet(scenario, params);
  const names = Object.keys(fleet);
  if (overrides.vms !== undefined && names.length > 1) {
    throw new FleetError(`--vms: scenario ${scenario.name} has ${names.length} groups (${names.join(", ")}): set their sizes with --group <group>=<count>, e.g. --group ${names[0]}=${overrides.vms}`);
  }
  for (const name of Object.keys(overrides.counts ?? {})) {
    if (!names.includes(name)) throw new FleetError(`--group ${name}: scenario ${scenario.name} has no group "${name}"; its groups are ${names.join(", ")}`);
  }
  if (overrides.image !== undefined && !IMAGE_ALIAS_PATTERN.test(overrides.image) && !isPublishedImage(overrides.image)) {
    throw new FleetError(`--image "${overrides.image}" must name dockerfiles/<image>.Dockerfile (e.g. debian) or a published image such as ghcr.io/org/agent:1`);
  }
  return names.map((name) => {
    const group = fleet[name]!;
    const count = overrides.counts?.[name] ?? overrides.vms ?? group.count;
    return {
      name,
      count,
      image: group.image ?? overrides.image ?? DEFAULT_IMAGE,
      ...(group.shape ? { shape: group.shape } : {}),
      ...(group.machineType ? { machineType: group.machineType } : {}),
    };
  });
}

/** The agents' names, group after group: `router-001`, `unit-001`, `unit-002`, … */
export function agentNamesOf(groups: readonly Pick<FleetGroup, "name" | "count">[]): string[] {
  return groups.flatMap((group) => Array.from({ length: group.count }, (_, i) => agentName(group.name, i)));
}

export function totalCount(groups: readonly Pick<FleetGroup, "count">[]): number {
  return groups.reduce((sum, group) => sum + group.count, 0);
}
