import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CLOUD_TARGETS } from "../../core/defaults.ts";
import { catalogAliases, ImageCatalogError, imageBuildOrder } from "../../core/image-catalog.ts";
import { runnerAgent, type Inventory } from "../../core/inventory.ts";
import { RUNNER_AGENT_GROUP } from "../../core/naming.ts";
import { expiresAtFromLabels, LABELS, type Namespace } from "../../core/namespace.ts";
import { FleetInputError, namespaceState, type TargetContext } from "../context.ts";
import { stateHome } from "../state.ts";
import type { AgentRow, ExtendRequest, Extension, NamespaceSummary, OpenNamespace, Reaper, Removal, RunnerHome, StackReap, Target, UpControl, UpPlan } from "../target.ts";
import { findPulumiCli, requirePulumiCli } from "./cli.ts";
import { listLabelledInstances, scopesOfStackFiles, untrackedInstances } from "./leftovers.ts";
import { lockNamespace } from "./namespace-lock.ts";
import {
  anchorExpiry,
  checkStackConfig,
  CloudRequestError,
  cloudPlan,
  describeExpiryChange,
  describeImages,
  expiredStacks,
  limitProblem,
  replacementWarning,
  stackConfigMap,
  stackTags,
  vmReplacement,
  type CloudFleetRequest,
  type CloudTarget,
  type ExpiryChange,
} from "./plan.ts";
import { pulumiStackRecordSchema, type PulumiStackRecord } from "./record.ts";
import { AUTOMATION_SDK, loadStacks, missingPackages, requireCloudSdks } from "./sdk.ts";
import { readStackFileConfig } from "./stack-file.ts";
import { prepareStackProject, stackProjectDir } from "./stack-project.ts";

/**
 * A namespace made by `up --cloud`: a Pulumi stack, read and changed through the Automation
 * API. That module is loaded only when a stack is touched (./sdk.ts): it is slow to load, an
 * optional dependency, and commands that never reach a stack must not need it.
 */
const stacks = () => loadStacks();

/** The client key and pinned host keys, where `ssh` and `run --namespace` find them. */
export async function keepLocally(context: TargetContext, namespace: Namespace, fleet: { inventory: Inventory; clientPrivateKey: string }): Promise<void> {
  const state = namespaceState(context, namespace);
  await state.writeClientKey(fleet.clientPrivateKey);
  await state.writeKnownHosts(fleet.inventory);
}

/**
 * The agents a destroy reports. A stack whose first update failed has no outputs and may still
 * hold resources, so a real destroy goes on without names; a dry run, which only reports, must
 * not turn an unreadable stack into "no agents".
 */
export async function agentsToDestroy(read: () => Promise<Inventory>, dryRun: boolean): Promise<string[]> {
  try {
    return (await read()).agents.map((agent) => agent.name);
  } catch (error) {
    if (dryRun) throw error;
    return [];
  }
}

class PulumiStackNamespace implements OpenNamespace {
  constructor(
    readonly target: CloudStackTarget,
    private readonly context: TargetContext,
    readonly namespace: Namespace,
    readonly record: PulumiStackRecord,
  ) {}

  private async workspace(what: string, outcome: string) {
    const { openWorkspace } = await stacks();
    return openWorkspace(this.record.projectDir, this.context.env, what, outcome);
  }

  /** The stack's inventory output; refreshes the local keys too. */
  async inventory(): Promise<Inventory> {
    const { readStackFleet } = await stacks();
    const workspace = await this.workspace(`namespace ${this.record.stack}, a Pulumi stack,`, "Nothing was read or changed.");
    const fleet = await readStackFleet(workspace, this.record.stack);
    await keepLocally(this.context, this.record.stack, fleet);
    return fleet.inventory;
  }

  async agents(): Promise<AgentRow[]> {
    return (await this.inventory()).agents.map((a) => ({
      name: a.name,
      address: `${a.host}:${a.sshPort}`,
      portRange: `${a.portRange[0]}-${a.portRange[1]}`,
      state: "running",
      expiresAt: expiresAtFromLabels(a.labels)?.toISOString() ?? null,
    }));
  }

  /** As recorded: reading the stack needs the Pulumi CLI, which `list` does not require. */
  async summary(): Promise<NamespaceSummary> {
    const { stack } = this.record;
    return { namespace: this.namespace, target: this.target.name, agents: null, running: null, owner: "", expiresAt: null, note: `Pulumi stack ${stack}: list --namespace ${this.namespace} reads it` };
  }

  /** `pulumi destroy` of the namespace's stack, then its local state. */
  async destroy(dryRun: boolean): Promise<Removal> {
    const { destroyStack, readStackFleet } = await stacks();
    const workspace = await this.workspace(`destroying namespace ${this.record.stack}, a Pulumi stack,`, "Nothing was removed.");
    const names = await agentsToDestroy(async () => (await readStackFleet(workspace, this.record.stack)).inventory, dryRun);
    if (!dryRun) {
      await destroyStack(workspace, this.record.stack, (text) => this.context.stderr.write(text));
      await namespaceState(this.context, this.namespace).remove();
    }
    return { names: names.sort(), notOnlyAgents: false, stack: { name: this.record.stack, cloud: this.target.name } };
  }

  /**
   * A new absolute `fieldtest:expiresAt` and expiry tag, then `pulumi up`. The boot scripts
   * carry the expiry, so the update replaces the VMs; the plan line says so before it starts.
   */
  async extend(request: ExtendRequest): Promise<Extension> {
    // Refused before the stack is read: the change would end everything running on the VMs.
    if (!request.replaceVms) {
      throw new FleetInputError(`${vmReplacement(this.namespace)}. Give --replace-vms to go ahead, or let the namespace expire and make it again. Nothing was changed.`);
    }
    const lock = await lockNamespace(stateHome(this.context.env), this.namespace, "`extend`");
    try {
      return await this.extendLocked(request);
    } finally {
      await lock.release();
    }
  }

  private async extendLocked(request: ExtendRequest): Promise<Extension> {
    const { extendStackExpiry } = await stacks();
    const workspace = await this.workspace(`extending namespace ${this.record.stack}, a Pulumi stack,`, "Nothing was changed.");
    const fleet = await extendStackExpiry(workspace, {
      namespace: this.record.stack,
      ttl: request.ttl,
      ttlSeconds: request.ttlSeconds,
      now: request.now,
      onPlan: (change) => this.context.stderr.write(`${describeExpiryChange(change, request.now)}\n`),
      onOutput: (text) => this.context.stderr.write(text),
    });
    // New VMs, new addresses and host keys: the local pins follow.
    await keepLocally(this.context, this.namespace, fleet);
    return { expiresAt: fleet.expiry.expiresAt, names: fleet.inventory.agents.map((a) => a.name).sort() };
  }

  async holding(): Promise<string> {
    return "is a Pulumi stack";
  }

  runnerHome(fleet?: Inventory): RunnerHome {
    return stackRunnerHome(this.namespace, fleet);
  }

  /** The stack's own reap removes its state with it. */
  async reapState(): Promise<boolean> {
    return false;
  }
}

/**
 * Destroys (or, dry, lists) the stacks whose `fieldtest-expires-at` tag has passed, and lists
 * the labelled VMs no stack tracks (looked for before any stack is destroyed).
 */
async function reapStacks(context: TargetContext & { cwd: string }, now: Date, dryRun: boolean): Promise<StackReap> {
  if (!findPulumiCli(context.env)) {
    return {
      skipped: "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/), so its stacks could not be listed",
      expired: [],
      failed: [],
      leftovers: [],
      leftoversSkipped: ["without the stacks, fieldtest cannot tell which labelled VMs they track"],
    };
  }
  const projectDir = stackProjectDir(context);
  if (!(await access(join(projectDir, "Pulumi.yaml")).then(() => true, () => false))) {
    const none = `there is no Pulumi project at ${projectDir} yet (no \`up --cloud\` made one)`;
    return { skipped: none, expired: [], failed: [], leftovers: [], leftoversSkipped: [`${none}, so there are no stack files to look in`] };
  }
  const missing = missingPackages(AUTOMATION_SDK);
  if (missing.length > 0) {
    const none = `Pulumi's SDK is not installed (\`npm i ${missing.join(" ")}\`), so its stacks could not be listed`;
    return { skipped: none, expired: [], failed: [], leftovers: [], leftoversSkipped: ["without the stacks, fieldtest cannot tell which labelled VMs they track"] };
  }
  const { destroyStack, listStacksWithTags, openWorkspace, stackResourceKeys } = await stacks();
  const workspace = await openWorkspace(projectDir, context.env, "`reap`", "Nothing was removed.");
  const all = await listStacksWithTags(workspace);
  const labelled = await listLabelledInstances(scopesOfStackFiles(join(projectDir, "stacks")), context.env);
  const leftovers = labelled.instances.length ? untrackedInstances(labelled.instances, await stackResourceKeys(workspace, all.map((s) => s.name))) : [];
  const expired = expiredStacks(all, now);
  const failed: StackReap["failed"] = [];
  if (!dryRun) {
    for (const stack of expired) {
      await destroyStack(workspace, stack.name, (text) => context.stderr.write(text)).then(
        async () => {
          // The local record of the namespace, if this machine made it, goes with its stack.
          const state = namespaceState(context, stack.tags[LABELS.namespace]!);
          const record = await state.readTargetRecord().catch(() => undefined);
          if (record && (CLOUD_TARGETS as readonly string[]).includes(record.target)) await state.remove();
        },
        (error: Error) => failed.push({ stack: stack.name, error: error.message }),
      );
    }
  }
  return { expired: expired.map((stack) => stack.name), failed, leftovers, leftoversSkipped: labelled.skipped };
}

/** One Pulumi project holds the stacks of every cloud: the cloud targets share this reaper, which `reap` runs once. */
const stacksReaper: Reaper = {
  async reap(context, { now, dryRun }) {
    return { expired: [], unreachable: [], stacks: await reapStacks(context, now, dryRun) };
  },
};

/** What `up` of a stack carries from its plan: the request with its expiry anchored to the stack's. */
export interface CloudUp {
  request: CloudFleetRequest;
  expiry: ExpiryChange;
  /** Set when the update would replace the VMs (a moved expiry). */
  replacement?: string;
}

/** A process of the fleet's runner agent, when the stack has one; else one of this machine, which says how to add it. */
function stackRunnerHome(namespace: Namespace, fleet?: Inventory): RunnerHome {
  const agent = fleet && runnerAgent(fleet);
  if (agent) return { home: "agent-process", agent };
  return {
    home: "local-process",
    why:
      `namespace ${namespace} has no ${RUNNER_AGENT_GROUP} agent: this detached run is a process of this machine and ends with it; ` +
      `add a group \`{ name: ${RUNNER_AGENT_GROUP}, count: 1 }\` to the stack's fieldtest:agents and \`fieldtest up\` it again to run detached runs there`,
  };
}

/** The plan of a stack's `up`: the stack file's config is read, the expiry anchored, the config checked. */
async function planStack(context: TargetContext, flagged: CloudFleetRequest, now: Date): Promise<UpPlan<CloudUp>> {
  const stored = await readStackFileConfig(join(stackProjectDir(context), "stacks"), flagged.namespace);
  const { request, expiry } = anchorExpiry(flagged, stored, now);
  const fieldtestDir = resolve(context.packageRoot, "dockerfiles");
  let config;
  let images;
  let problem;
  try {
    config = checkStackConfig(request, (projectDirs) => catalogAliases({ projectDirs, fieldtestDir }), now, expiry.expiresAt, stored);
    // What the program will build, in its order: an image extending one that is found nowhere, or itself, is refused here.
    if (config.target !== "ssh") images = describeImages(imageBuildOrder({ projectDirs: config.dockerfileDirs, fieldtestDir }, [...new Set(config.agents.map((group) => group.image))]), fieldtestDir);
  } catch (error) {
    if (!(error instanceof CloudRequestError || error instanceof ImageCatalogError)) throw error;
    problem = error.message;
  }
  const fleet = cloudPlan(request, expiry, now, config, images);
  // The limits first: a fleet too large says so before what its config lacks.
  problem = limitProblem(fleet) ?? problem;
  const replacement = replacementWarning(expiry, request.namespace);
  return { fleet, ...(problem ? { problem } : {}), ...(replacement ? { replacement } : {}), prepared: { request, expiry, ...(replacement ? { replacement } : {}) } };
}

/** The Pulumi project stacks are written to: never the installed package (see stack-project.ts). */
async function cloudProjectDir(context: TargetContext, what: string): Promise<string> {
  // Before the project is written: without the CLI, nothing is.
  requirePulumiCli(context.env, what, "Nothing was created.");
  const dir = stackProjectDir(context);
  await prepareStackProject(dir, context.packageRoot);
  return dir;
}

/** `--project`, `--zone`, `--region`: each cloud reads the ones it needs and refuses the others. */
export interface CloudPlacementFlags {
  project?: string;
  zone?: string;
  region?: string;
}

/** A target whose agents are VMs of a Pulumi stack, one stack per namespace (`up --cloud <cloud>`). */
export interface CloudStackTarget extends Target<PulumiStackRecord, CloudFleetRequest, CloudUp> {
  readonly name: CloudTarget;
  /** Where in the cloud the stack goes, from the flags or the cloud CLI's environment; bad input names its flag. */
  place(env: NodeJS.ProcessEnv, flags: CloudPlacementFlags): Pick<CloudFleetRequest, "gcp" | "aws">;
}

/**
 * A cloud's own check of a plan that has no other problem, before anything is created (GCP: its
 * APIs enabled); the problem it finds, if any.
 */
export type CloudPreflight = (context: TargetContext, request: CloudFleetRequest) => Promise<string | undefined>;

export function pulumiStackTarget(cloud: CloudTarget, place: CloudStackTarget["place"], preflight?: CloudPreflight): CloudStackTarget {
  const target: CloudStackTarget = {
    name: cloud,
    where: "a Pulumi stack",
    place,
    upFlag: `--cloud ${cloud}`,
    recordSchema: pulumiStackRecordSchema,
    reaper: stacksReaper,

    async plan(context, request, _limits, now) {
      const plan = await planStack(context, request, now);
      const problem = plan.problem ?? (await preflight?.(context, plan.prepared.request));
      return problem ? { ...plan, problem } : plan;
    },

    async up(context, prepared, control: UpControl) {
      const { request, expiry, replacement } = prepared;
      if (replacement && !control.replaceVms) {
        throw new FleetInputError(`${replacement}. Give --replace-vms to go ahead, or leave --ttl out to keep the stack's expiry. Nothing was changed.`);
      }
      const lock = await lockNamespace(stateHome(context.env), request.namespace, "`up --cloud`");
      try {
        const what = `\`up --cloud ${request.target}\``;
        requireCloudSdks(request.target, what);
        const { openWorkspace, upStack } = await loadStacks(what, "Nothing was created.");
        const projectDir = await cloudProjectDir(context, what);
        const workspace = await openWorkspace(projectDir, context.env, what);
        control.progress.step(`pulumi up of stack ${request.namespace} (project ${projectDir})`);
        const fleet = await upStack(workspace, {
          namespace: request.namespace,
          // Recorded once the stack is selected (a missing passphrase stops before, leaving no
          // record), and before the update, so that `destroy` finds it if the update fails halfway.
          onSelected: () => namespaceState(context, request.namespace).writeTargetRecord({ target: cloud, record: { stack: request.namespace, projectDir } }),
          config: stackConfigMap(request, expiry.expiresAt),
          tags: stackTags(request, expiry.expiresAt),
          onOutput: (text) => context.stderr.write(text),
          signal: control.signal,
        });
        await keepLocally(context, request.namespace, fleet);
        return fleet.inventory;
      } finally {
        await lock.release();
      }
    },

    open(context, namespace, record) {
      if (!record) throw new Error(`namespace ${namespace}: a Pulumi stack namespace needs its record (which stack and project); it has none`);
      return new PulumiStackNamespace(target, context, namespace, record);
    },

    runnerHome: (fleet) => stackRunnerHome(fleet.namespace, fleet),

    async listed(_context, recorded) {
      return Promise.all(recorded.map((opened) => opened.summary()));
    },
  };
  return target;
}
