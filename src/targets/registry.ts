import type { Inventory } from "../core/inventory.ts";
import type { Namespace } from "../core/namespace.ts";
import { awsTarget } from "./aws/target.ts";
import { FleetInputError, namespaceState, type TargetContext } from "./context.ts";
import { gcpTarget } from "./gcp/target.ts";
import { localhostTarget } from "./localhost/target.ts";
import type { CloudStackTarget } from "./pulumi/pulumi-stack.ts";
import { sshHostsTarget } from "./ssh-hosts/target.ts";
import type { OpenNamespace, RunnerHome, Target, TargetName, UpControl } from "./target.ts";

/**
 * The targets, by name: the one place that knows which exist. The compiler checks it against the
 * inventory's names (core/inventory.ts TARGETS). Their order is the order `reap` runs them in: the
 * SSH hosts before this machine's engine, since a host may be this machine and its containers
 * are then reported as the host's.
 */
const TARGETS: { readonly [N in TargetName]: Target } = {
  ssh: sshHostsTarget,
  localhost: localhostTarget,
  gcp: gcpTarget,
  aws: awsTarget,
};

/** Where a namespace with no record lives: agents found by label on this machine's engine. */
const DEFAULT_TARGET: TargetName = "localhost";

export function allTargets(): Target[] {
  return Object.values(TARGETS);
}

/** The targets that make Pulumi stacks in a cloud (`up --cloud <name>`). */
export function cloudTargets(): CloudStackTarget[] {
  return allTargets().filter((target): target is CloudStackTarget => "place" in target);
}

/** The target of that name; an unknown name is an error that lists the known ones. */
export function targetNamed(name: string, where = "target"): Target {
  const target = Object.hasOwn(TARGETS, name) ? TARGETS[name as TargetName] : undefined;
  if (!target) throw new FleetInputError(`${where} "${name}" is not a fieldtest target; the targets are ${Object.keys(TARGETS).join(", ")}`);
  return target;
}

/**
 * The one place that decides what a namespace is: the target its record names, opened with that
 * record as the target's own schema reads it. No record makes it a fleet on this machine's engine.
 */
export async function openNamespace(context: TargetContext, namespace: Namespace): Promise<OpenNamespace> {
  const state = namespaceState(context, namespace);
  const stored = await state.readTargetRecord();
  if (!stored) return TARGETS[DEFAULT_TARGET].open(context, namespace, undefined);
  const target = targetNamed(stored.target, `namespace ${namespace}: ${state.dir} names the target`);
  const parsed = target.recordSchema.safeParse(stored.record);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "record"}: ${issue.message}`).join("; ");
    throw new Error(`namespace ${namespace}: the record of its ${target.name} target in ${state.dir} is not valid (${issues}); fix it, or remove the directory if the fleet is gone`);
  }
  return target.open(context, namespace, parsed.data);
}

/** Where a detached runner lives on a fleet known only by its inventory file: its target says. */
export function runnerHomeOfInventory(fleet: Inventory): RunnerHome {
  return targetNamed(fleet.target, "the inventory's target").runnerHome(fleet);
}

/**
 * Refuses (bad input, before anything is made) to create agents of one target in a namespace
 * that holds another's: its teardown would otherwise act on the other fleet. A namespace of the
 * same target passes; its `up` refuses one that already has agents.
 */
async function claimNamespace(context: TargetContext, namespace: Namespace, target: Target): Promise<void> {
  const opened = await openNamespace(context, namespace);
  if (opened.target === target) return;
  const holder = await opened.holding(target);
  if (holder) throw new FleetInputError(`namespace ${namespace} ${holder}: \`fieldtest destroy --namespace ${namespace}\` first, or choose another namespace`);
}

/** `up` on a target: the namespace is claimed for it first, so that no target makes agents in another's namespace. */
export async function upNamespace<Prepared>(context: TargetContext, target: Target<unknown, unknown, Prepared>, namespace: Namespace, prepared: Prepared, control: UpControl): Promise<Inventory> {
  await claimNamespace(context, namespace, target as Target);
  return target.up(context, prepared, control);
}
