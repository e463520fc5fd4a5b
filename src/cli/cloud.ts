import { existsSync } from "node:fs";
import { MAX_AGENTS_PER_GROUP } from "../core/naming.ts";
import type { EngineFleetRequest } from "../targets/docker-engine/fleet-up.ts";
import type { CloudStackTarget } from "../targets/pulumi/pulumi-stack.ts";
import {
  CloudRequestError,
  DEFAULT_GROUP,
  DEFAULT_MACHINE_TYPES,
  DEFAULT_MAX_VMS,
  limitProblem,
  parseGroup,
  renderPlan,
  type AgentGroupRequest,
  type CloudFleetRequest,
  type FleetPlan,
} from "../targets/pulumi/plan.ts";
import { cloudTargets } from "../targets/registry.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import { positiveIntOption } from "./options.ts";

/**
 * The flags of `up --cloud`, turned into the cloud target and its request; the target (a Pulumi
 * stack: src/targets/pulumi/pulumi-stack.ts) plans and makes the fleet.
 */

/** Prints the plan on stderr and refuses it (bad input, exit 2) above --max-vms, --max-cores or --max-ram-gb. */
export function announcePlan(context: CliContext, plan: FleetPlan): void {
  context.stderr.write(renderPlan(plan));
  const problem = limitProblem(plan);
  if (problem) throw new UsageError(problem);
}

/** `--max-vms`, the limit of `up` on every target. */
export function maxVmsOption(value: string | undefined): number {
  return positiveIntOption("--max-vms", value, DEFAULT_MAX_VMS, 100_000);
}

export interface CloudFlags {
  cloud: string;
  vms?: string;
  machineType?: string;
  group: string[];
  project?: string;
  zone?: string;
  region?: string;
  maxVms?: string;
  sshSourceRange?: string[];
  /** `--ttl` was on the command line, not its default. */
  ttlGiven?: boolean;
}

/** `--cloud <name>`: a target of the registry that makes Pulumi stacks. */
export function cloudTargetOption(name: string): CloudStackTarget {
  const target = cloudTargets().find((t) => t.name === name);
  if (!target) throw new UsageError(`--cloud "${name}" must be one of ${cloudTargets().map((t) => t.name).join(", ")} (agents on your own machines: --localhost or --ssh-host)`);
  return target;
}

/** `up --cloud` flags → the target and its request; every mistake names its flag. Cloud defaults come from the usual environment variables. */
export function cloudFleetRequest(
  env: NodeJS.ProcessEnv,
  flags: CloudFlags,
  fleet: Omit<EngineFleetRequest, "groups"> & { image: string },
  ttl: string,
  scenarioGroups?: AgentGroupRequest[],
): { target: CloudStackTarget; request: CloudFleetRequest } {
  const target = cloudTargetOption(flags.cloud);
  if (flags.group.length && (flags.vms !== undefined || flags.machineType !== undefined)) {
    throw new UsageError("--group and --vms/--machine-type exclude each other: give every group with --group <name>:<count>:<machine type>");
  }
  let groups;
  try {
    groups = scenarioGroups
      ? scenarioGroups
      : flags.group.length
      ? flags.group.map((group) => parseGroup(group, target.name))
      : [{ name: DEFAULT_GROUP, count: positiveIntOption("--vms", flags.vms, 1, MAX_AGENTS_PER_GROUP), machineType: flags.machineType ?? DEFAULT_MACHINE_TYPES[target.name] }];
  } catch (error) {
    if (error instanceof CloudRequestError) throw new UsageError(error.message);
    throw error;
  }
  const request: CloudFleetRequest = {
    ...fleet,
    // The folders localhost searches, those that exist: the stack config keeps them.
    dockerfileDirs: fleet.dockerfileDirs.filter((dir) => existsSync(dir)),
    target: target.name,
    ttl,
    ttlGiven: Boolean(flags.ttlGiven),
    groups,
    maxVms: maxVmsOption(flags.maxVms),
    ...(flags.sshSourceRange?.length ? { sshSourceRanges: flags.sshSourceRange } : {}),
    ...target.place(env, flags),
  };
  return { target, request };
}
