import { dockerfileAliases } from "../core/images.ts";
import { join } from "node:path";
import { MAX_AGENTS_PER_GROUP } from "../core/naming.ts";
import { requirePulumiCli } from "../pulumi/cli.ts";
import { loadStacks, requireCloudSdks } from "../pulumi/sdk.ts";
import { namespaceState, type BackendContext } from "../backends/context.ts";
import { claimNamespace } from "../backends/open.ts";
import type { LocalFleetRequest } from "../backends/provision.ts";
import { keepLocally } from "../backends/pulumi-stack.ts";
import { prepareStackProject, stackProjectDir } from "../backends/stack-project.ts";
import {
  anchorExpiry,
  checkStackConfig,
  CLOUD_TARGETS,
  CloudRequestError,
  cloudPlan,
  DEFAULT_GROUP,
  DEFAULT_MACHINE_TYPES,
  DEFAULT_MAX_VMS,
  parseGroup,
  limitProblem,
  renderPlan,
  replacementWarning,
  stackConfigMap,
  stackTags,
  type AgentGroupRequest,
  type CloudFleetRequest,
  type FleetPlan,
} from "../pulumi/plan.ts";
import { readStackFileConfig } from "../pulumi/stack-file.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { positiveIntOption } from "./options.ts";
import { stderrProgress } from "./output.ts";
import { printUpResult } from "./up-result.ts";

/**
 * The CLI side of `up --cloud`, through Pulumi's Automation API (a namespace's stack, once made,
 * is its backend: src/backends/pulumi-stack.ts). The Automation API module is loaded only when a
 * stack is touched (src/pulumi/sdk.ts): it is slow to load, an optional dependency, and
 * `up --dry-run` or a refused plan must not need it.
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
      ? flags.group.map((group) => parseGroup(group, target))
      : [{ name: DEFAULT_GROUP, count: positiveIntOption("--vms", flags.vms, 1, MAX_AGENTS_PER_GROUP), machineType: flags.machineType ?? DEFAULT_MACHINE_TYPES[target] }];
  } catch (error) {
    if (error instanceof CloudRequestError) throw new UsageError(error.message);
    throw error;
  }
  const request: CloudFleetRequest = {
    ...fleet,
    target,
    ttl,
    ttlGiven: Boolean(flags.ttlGiven),
    groups,
    maxVms: maxVmsOption(flags.maxVms),
    ...(flags.sshSourceRange?.length ? { sshSourceRanges: flags.sshSourceRange } : {}),
  };
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
  /** The user's word that a moved expiry may replace the stack's VMs (`--replace-vms`). */
  replaceVms: boolean;
}

export async function cloudUpCommand(context: CliContext, flagged: CloudFleetRequest, options: CloudUpOptions, interrupt: Interrupt): Promise<void> {
  const now = new Date();
  const stored = await readStackFileConfig(join(stackProjectDir(context), "stacks"), flagged.namespace);
  const { request, expiry } = anchorExpiry(flagged, stored, now);
  let config;
  let problem;
  try {
    config = checkStackConfig(request, dockerfileAliases(join(context.packageRoot, "dockerfiles")), now, expiry.expiresAt, stored);
  } catch (error) {
    if (!(error instanceof CloudRequestError)) throw error;
    problem = error.message;
  }
  announcePlan(context, cloudPlan(request, expiry, now, config));
  if (problem) throw new UsageError(problem);
  const replacement = replacementWarning(expiry, request.namespace);
  if (options.dryRun) return void context.stderr.write(`dry run: nothing was created${replacement && !options.replaceVms ? `; ${replacement}, and up needs --replace-vms to do it` : ""}\n`);
  if (replacement && !options.replaceVms) {
    throw new UsageError(`${replacement}. Give --replace-vms to go ahead, or leave --ttl out to keep the stack's expiry. Nothing was changed.`);
  }

  const what = `\`up --cloud ${request.target}\``;
  requireCloudSdks(request.target, what);
  await claimNamespace(context, request.namespace, "pulumi");
  const { openWorkspace, upStack } = await loadStacks(what, "Nothing was created.");
  const projectDir = await cloudProjectDir(context, what);
  const workspace = await openWorkspace(projectDir, context.env, what);
  const progress = stderrProgress(context.stderr);
  const state = namespaceState(context, request.namespace);
  // Recorded first, so that `destroy` finds the stack even when the update fails halfway.
  await state.writePulumiStack({ target: "pulumi", cloud: request.target, stack: request.namespace, projectDir });
  progress.step(`pulumi up of stack ${request.namespace} (project ${projectDir})`);
  const fleet = await upStack(workspace, {
    namespace: request.namespace,
    config: stackConfigMap(request, expiry.expiresAt),
    tags: stackTags(request, expiry.expiresAt),
    onOutput: (text) => context.stderr.write(text),
    signal: interrupt.signal,
  });
  await keepLocally(context, request.namespace, fleet);
  printUpResult(context, request.namespace, fleet.inventory, options.json);
}

/** The Pulumi project stacks are written to: never the installed package (see stack-project.ts). */
async function cloudProjectDir(context: BackendContext, what: string): Promise<string> {
  // Before the project is written: without the CLI, nothing is.
  requirePulumiCli(context.env, what, "Nothing was created.");
  const dir = stackProjectDir(context);
  await prepareStackProject(dir, context.packageRoot);
  return dir;
}
