import { access } from "node:fs/promises";
import { join } from "node:path";
import type { Inventory } from "../core/inventory.ts";
import { expiresAtFromLabels, LABELS, type Namespace } from "../core/namespace.ts";
import { findPulumiCli } from "../pulumi/cli.ts";
import { listLabelledInstances, scopesOfStackFiles, untrackedInstances, type LabelledInstance } from "../pulumi/leftovers.ts";
import { describeExpiryChange, expiredStacks, vmReplacement } from "../pulumi/plan.ts";
import type { PulumiStackRecord } from "../pulumi/record.ts";
import { AUTOMATION_SDK, loadStacks, missingPackages } from "../pulumi/sdk.ts";
import type { AgentRow, ExtendRequest, Extension, FleetBackend, NamespaceSummary, Removal } from "./backend.ts";
import { FleetInputError, namespaceState, type BackendContext } from "./context.ts";
import { stackProjectDir } from "./stack-project.ts";

/**
 * A namespace made by `up --cloud`: a Pulumi stack, read and changed through the Automation
 * API. That module is loaded only when a stack is touched (src/pulumi/sdk.ts): it is slow to
 * load, an optional dependency, and commands that never reach a stack must not need it.
 */
const stacks = () => loadStacks();

/** The client key and pinned host keys, where `ssh` and `run --namespace` find them. */
export async function keepLocally(context: BackendContext, namespace: Namespace, fleet: { inventory: Inventory; clientPrivateKey: string }): Promise<void> {
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

export class PulumiStackBackend implements FleetBackend {
  readonly kind = "pulumi";

  constructor(
    private readonly context: BackendContext,
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
    const { cloud, stack } = this.record;
    return { namespace: this.namespace, target: cloud, agents: null, running: null, owner: "", expiresAt: null, note: `Pulumi stack ${stack}: list --namespace ${this.namespace} reads it` };
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
    return { names: names.sort(), notOnlyAgents: false, stack: { name: this.record.stack, cloud: this.record.cloud } };
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
export async function reapStacks(context: BackendContext & { cwd: string }, now: Date, dryRun: boolean): Promise<StackReap> {
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
          if (await state.readPulumiStack().catch(() => undefined)) await state.remove();
        },
        (error: Error) => failed.push({ stack: stack.name, error: error.message }),
      );
    }
  }
  return { expired: expired.map((stack) => stack.name), failed, leftovers, leftoversSkipped: labelled.skipped };
}
