import type { CloudTarget } from "../core/defaults.ts";
import { DEFAULT_IMAGE, DEFAULT_MACHINE_TYPES } from "../core/defaults.ts";
import { ORCHESTRATOR_GROUP } from "../core/naming.ts";
import { machineTypeFor, ShapeError, type InstanceType } from "../core/shapes.ts";
import type { AgentGroupRequest, PlanLimits } from "../targets/pulumi/plan.ts";
import type { Scenario } from "../scenario/scenario.ts";
import { FleetError, parseGroupCount, scenarioGroups, type FleetGroup, type FleetOverrides } from "../scenario/scenario-fleet.ts";
import { ParamsError, parseScenarioParams, readParamsFile } from "../scenario/scenario-params.ts";
import { UsageError } from "./context.ts";
import { positiveIntOption } from "./options.ts";

/**
 * The command line's say over a scenario: its parameters (`--param`, `--params`), its groups'
 * sizes (`--vms`, `--group name=N`, `--image`) and the guards (`--max-vms`, `--max-cores`,
 * `--max-ram-gb`). Every mistake is a UsageError (exit 2) naming the flag or parameter.
 */

export interface ScenarioFlags {
  param?: string[];
  params?: string;
  vms?: string;
  group?: string[];
  image?: string;
}

export interface ScenarioArguments {
  pairs: string[];
  paramsFile?: string;
  overrides: FleetOverrides;
}

/** Per group, far more than a machine's Docker engine or a typo-guard would let through anyway. */
const MAX_VMS_FLAG = 999;

export function scenarioArguments(flags: ScenarioFlags): ScenarioArguments {
  const counts: Record<string, number> = {};
  for (const text of flags.group ?? []) {
    try {
      const [name, count] = parseGroupCount(text);
      counts[name] = count;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  return {
    pairs: flags.param ?? [],
    ...(flags.params !== undefined ? { paramsFile: flags.params } : {}),
    overrides: {
      ...(flags.vms !== undefined ? { vms: positiveIntOption("--vms", flags.vms, 1, MAX_VMS_FLAG) } : {}),
      ...(Object.keys(counts).length ? { counts } : {}),
      ...(flags.image !== undefined ? { image: flags.image } : {}),
    },
  };
}

/**
 * `up --group orchestrator=1`: an agent for detached runners beside the fleet (or the scenario's
 * groups), on the default image. The other `--group` specs are returned as they were.
 */
export function orchestratorGroupOption(specs: readonly string[]): { specs: string[]; group?: FleetGroup } {
  const ours = specs.filter((spec) => spec.startsWith(`${ORCHESTRATOR_GROUP}=`));
  if (ours.length === 0) return { specs: [...specs] };
  if (ours.length > 1 || ours[0] !== `${ORCHESTRATOR_GROUP}=1`) {
    throw new UsageError(`--group ${ours.join(", ")}: a fleet has one orchestrator agent at most; write --group ${ORCHESTRATOR_GROUP}=1`);
  }
  return { specs: specs.filter((spec) => !ours.includes(spec)), group: { name: ORCHESTRATOR_GROUP, count: 1, image: DEFAULT_IMAGE } };
}

/** The parameters the run uses, from `--params` then `--param`; a bad one is exit 2. */
export async function scenarioParams(scenario: Scenario, args: Pick<ScenarioArguments, "pairs" | "paramsFile">): Promise<Record<string, unknown>> {
  try {
    const values = args.paramsFile !== undefined ? await readParamsFile(args.paramsFile) : undefined;
    return parseScenarioParams(scenario, { pairs: args.pairs, ...(values ? { values, valuesSource: `--params ${args.paramsFile}` } : {}) });
  } catch (error) {
    if (error instanceof ParamsError) throw new UsageError(error.message);
    throw error;
  }
}

/** The groups to provision for these parameters and overrides; a bad override is exit 2. */
export function fleetGroups(scenario: Scenario, params: Record<string, unknown>, overrides: FleetOverrides): FleetGroup[] {
  try {
    return scenarioGroups(scenario, params, overrides);
  } catch (error) {
    if (error instanceof FleetError) throw new UsageError(error.message);
    throw error;
  }
}

function positiveNumberOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) throw new UsageError(`${flag} "${value}" must be a positive number`);
  return Number(value);
}

/** `--max-vms` (default 10), `--max-cores` and `--max-ram-gb` (no limit unless given). */
export function planLimits(flags: { maxVms?: string; maxCores?: string; maxRamGb?: string }, defaultMaxVms: number): PlanLimits {
  const maxCores = positiveNumberOption("--max-cores", flags.maxCores);
  const maxRamGb = positiveNumberOption("--max-ram-gb", flags.maxRamGb);
  return {
    maxVms: positiveIntOption("--max-vms", flags.maxVms, defaultMaxVms, 100_000),
    ...(maxCores !== undefined ? { maxCores } : {}),
    ...(maxRamGb !== undefined ? { maxRamGb } : {}),
  };
}

/**
 * The groups as cloud machines: a group's explicit machine type for the target, else the
 * smallest type of the table that fits its shape, else the target's default type.
 */
export function cloudGroups(groups: readonly FleetGroup[], target: CloudTarget, table?: readonly InstanceType[]): AgentGroupRequest[] {
  return groups.map((group) => {
    let machineType = group.machineType?.[target];
    if (machineType === undefined && group.shape) {
      try {
        machineType = machineTypeFor(target, group.shape, table).machineType;
      } catch (error) {
        if (error instanceof ShapeError) throw new UsageError(`group ${group.name}: ${error.message}`);
        throw error;
      }
    }
    return {
      name: group.name,
      count: group.count,
      machineType: machineType ?? DEFAULT_MACHINE_TYPES[target],
      image: group.image,
      ...(group.shape ? { shape: group.shape } : {}),
    };
  });
}
