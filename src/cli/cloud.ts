import { dockerfileAliases } from "../core/images.ts";
import { join } from "node:path";
import type { Inventory } from "../core/inventory.ts";
import { LABELS, type Namespace } from "../core/namespace.ts";
import { findPulumiCli } from "../pulumi/cli.ts";
import { listLabelledInstances, scopesOfStackFiles, untrackedInstances, type LabelledInstance } from "../pulumi/leftovers.ts";
import { MAX_AGENTS_PER_GROUP } from "../../infra/config.ts";
import {
  checkStackConfig,
  CLOUD_TARGETS,
  CloudRequestError,
  cloudPlan,
  DEFAULT_GROUP,
  DEFAULT_MACHINE_TYPES,
  DEFAULT_MAX_VMS,
  parseGroup,
  expiredStacks,
  limitProblem,
  renderPlan,
  stackConfigMap,
  stackTags,
  type AgentGroupRequest,
  type CloudFleetRequest,
  type FleetPlan,
} from "../pulumi/plan.ts";
import type { PulumiStackRecord } from "../pulumi/record.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import { namespaceState, printUpResult, type LocalFleetRequest } from "./fleet.ts";
import type { Interrupt } from "./interrupt.ts";
import { positiveIntOption } from "./options.ts";
import { stderrProgress } from "./output.ts";

/**
 * The CLI side of cloud fleets: `up --cloud` through Pulumi's Automation API, and the stack
 * behind a namespace for `run`, `list`, `inventory`, `destroy` and `reap`. The Automation API
 * module is loaded only when a stack is touched: it is slow to load, and `up --dry-run` or a
 * refused plan must not need it.
 */

const stacks = () => import("../pulumi/stacks.ts");

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
}

/** `up --cloud` flags → the request; every mistake names its flag. Cloud defaults come from the usual environment variables. */
export function cloudFleetRequest(
  env: NodeJS.ProcessEnv,
  flags: CloudFlags,
  fleet: Omit<LocalFleetRequest, "groups" | "dockerfileDirs"> & { image: string },
  ttl: string,
  scenarioGroups?: AgentGroupRequest[],
): CloudFleetRequest {
  const target = CLOUD_TARGETS.find((t) => t === flags.cloud);
  if (!target) throw new UsageError(`--cloud "${flags.cloud}" must be one of ${CLOUD_TARGETS.join(", ")} (agents on your own machines: --localhost or --ssh-host)`);
  if (flags.group.length && (flags.vms !== undefined || flags.machineType !== undefined)) {
    throw new UsageError("--group and --vms/--machine-type exclude each other: give every group with --group <name>:<count>:<machine type>");
  }
  let groups;
  try {
    groups = scenarioGroups
      ? scenarioGroups
      : flags.group.length
      ? flags.group.map(parseGroup)
      : [{ name: DEFAULT_GROUP, count: positiveIntOption("--vms", flags.vms, 1, MAX_AGENTS_PER_GROUP), machineType: flags.machineType ?? DEFAULT_MACHINE_TYPES[target] }];
  } catch (error) {
    if (error instanceof CloudRequestError) throw new UsageError(error.message);
    throw error;
  }
  const request: CloudFleetRequest = { ...fleet, target, ttl, groups, maxVms: maxVmsOption(flags.maxVms) };
  if (target === "gcp") {
    if (flags.region !== undefined) throw new UsageError("--region is for --cloud aws; GCP takes --zone (its region is the zone's)");
    const project = flags.project ?? (env.GOOGLE_CLOUD_PROJECT || env.CLOUDSDK_CORE_PROJECT || undefined);
    const zone = flags.zone ?? (env.CLOUDSDK_COMPUTE_ZONE || undefined);
    if (!project) throw new UsageError("--cloud gcp needs --project <project id> (or GOOGLE_CLOUD_PROJECT)");
    if (!zone) throw new UsageError("--cloud gcp needs --zone <zone>, e.g. europe-west1-b (or CLOUDSDK_COMPUTE_ZONE)");
    return { ...request, gcp: { project, zone } };
  }
  if (flags.project !== undefined || flags.zone !== undefined) throw new UsageError("--project and --zone are for --cloud gcp; AWS takes --region");
  const region = flags.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  if (!region) throw new UsageError("--cloud aws needs --region <region>, e.g. eu-west-1 (or AWS_REGION)");
  return { ...request, aws: { region } };
}

export interface CloudUpOptions {
  json: boolean;
  /** Print the plan and check the config, then stop: no stack, no state. */
  dryRun: boolean;
}

export async function cloudUpCommand(context: CliContext, request: CloudFleetRequest, options: CloudUpOptions, interrupt: Interrupt): Promise<void> {
  const now = new Date();
  announcePlan(context, cloudPlan(request, now));
  try {
    checkStackConfig(request, dockerfileAliases(join(context.packageRoot, "dockerfiles")), now);
  } catch (error) {
    if (error instanceof CloudRequestError) throw new UsageError(error.message);
    throw error;
  }
  if (options.dryRun) return void context.stderr.write("dry run: nothing was created\n");

  if (await namespaceState(context, request.namespace).readSshFleet()) {
    throw new UsageError(`namespace ${request.namespace} holds agents on SSH hosts: \`fieldtest destroy --namespace ${request.namespace}\` first, or choose another namespace`);
  }
  const { openWorkspace, upStack } = await stacks();
  const workspace = await openWorkspace(context.packageRoot, context.env, `\`up --cloud ${request.target}\``);
  const progress = stderrProgress(context.stderr);
  const state = namespaceState(context, request.namespace);
  // Recorded first, so that `destroy` finds the stack even when the update fails halfway.
  await state.writePulumiStack({ target: "pulumi", cloud: request.target, stack: request.namespace, projectDir: context.packageRoot });
  progress.step(`pulumi up of stack ${request.namespace} (project ${context.packageRoot})`);
  const fleet = await upStack(workspace, {
    namespace: request.namespace,
    config: stackConfigMap(request),
    tags: stackTags(request, now),
    onOutput: (text) => context.stderr.write(text),
    signal: interrupt.signal,
  });
  await keepLocally(context, request.namespace, fleet);
  printUpResult(context, request.namespace, fleet.inventory, options.json);
}

/** The client key and pinned host keys, where `ssh` and `run --namespace` find them. */
async function keepLocally(context: CliContext, namespace: Namespace, fleet: { inventory: Inventory; clientPrivateKey: string }): Promise<void> {
  const state = namespaceState(context, namespace);
  await state.writeClientKey(fleet.clientPrivateKey);
  await state.writeKnownHosts(fleet.inventory);
}

/** The stack behind a namespace made by `up --cloud`, or undefined for any other namespace. */
export async function pulumiStackOf(context: CliContext, namespace: Namespace): Promise<PulumiStackRecord | undefined> {
  return namespaceState(context, namespace).readPulumiStack();
}

/** The stack's inventory output, read through the Automation API; refreshes the local keys too. */
export async function stackInventory(context: CliContext, record: PulumiStackRecord): Promise<Inventory> {
  const { openWorkspace, readStackFleet } = await stacks();
  const workspace = await openWorkspace(record.projectDir, context.env, `namespace ${record.stack}, a Pulumi stack,`, "Nothing was read or changed.");
  const fleet = await readStackFleet(workspace, record.stack);
  await keepLocally(context, record.stack, fleet);
  return fleet.inventory;
}

/** `pulumi destroy` of the namespace's stack, then its local state; returns the agents it had. */
export async function destroyStackNamespace(context: CliContext, record: PulumiStackRecord, dryRun: boolean): Promise<string[]> {
  const { destroyStack, openWorkspace, readStackFleet } = await stacks();
  const workspace = await openWorkspace(record.projectDir, context.env, `destroying namespace ${record.stack}, a Pulumi stack,`, "Nothing was removed.");
  const agents = await readStackFleet(workspace, record.stack).then(
    (fleet) => fleet.inventory.agents.map((agent) => agent.name),
    // A stack whose first update failed has no outputs, and may still hold resources.
    () => [],
  );
  if (dryRun) return agents;
  await destroyStack(workspace, record.stack, (text) => context.stderr.write(text));
  await namespaceState(context, record.stack).remove();
  return agents;
}

export interface StackReap {
  /** Why the stacks were not looked at, when they were not. */
  skipped?: string;
  expired: string[];
  failed: Array<{ stack: string; error: string }>;
  /** VMs labelled with a namespace that no stack tracks: listed, never removed. */
  leftovers: LabelledInstance[];
  /** Clouds where leftovers could not be looked for, and why. */
  leftoversSkipped: string[];
}

/**
 * Destroys (or, dry, lists) the stacks whose `fieldtest-expires-at` tag has passed, and lists
 * the labelled VMs no stack tracks (looked for before any stack is destroyed).
 */
export async function reapStacks(context: CliContext, now: Date, dryRun: boolean): Promise<StackReap> {
  if (!findPulumiCli(context.env)) {
    return {
      skipped: "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/), so its stacks could not be listed",
      expired: [],
      failed: [],
      leftovers: [],
      leftoversSkipped: ["without the stacks, fieldtest cannot tell which labelled VMs they track"],
    };
  }
  const { destroyStack, listStacksWithTags, openWorkspace, stackResourceKeys } = await stacks();
  const workspace = await openWorkspace(context.packageRoot, context.env, "`reap`", "Nothing was removed.");
  const all = await listStacksWithTags(workspace);
  const labelled = await listLabelledInstances(scopesOfStackFiles(join(context.packageRoot, "stacks")), context.env);
  const leftovers = labelled.instances.length ? untrackedInstances(labelled.instances, await stackResourceKeys(workspace, all.map((s) => s.name))) : [];
  const expired = expiredStacks(all, now);
  const failed: StackReap["failed"] = [];
  if (!dryRun) {
    for (const stack of expired) {
      await destroyStack(workspace, stack.name, (text) => context.stderr.write(text)).then(
        async () => {
          // The local record of the namespace, if this machine made it, goes with its stack.
          const state = namespaceState(context, stack.tags[LABELS.namespace]!);
          if (await state.readPulumiStack().catch(() => undefined)) await state.remove();
        },
        (error: Error) => failed.push({ stack: stack.name, error: error.message }),
      );
    }
  }
  return { expired: expired.map((stack) => stack.name), failed, leftovers, leftoversSkipped: labelled.skipped };
}
