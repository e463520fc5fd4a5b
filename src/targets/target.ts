import type { z } from "zod";
import type { AgentSpec, Inventory, Target as TargetName } from "../core/inventory.ts";
import type { Namespace } from "../core/namespace.ts";
import type { Progress } from "../core/progress.ts";
import type { TargetContext } from "./context.ts";
import type { ReapScope } from "./docker-engine/provisioner.ts";
import type { LabelledInstance } from "./pulumi/leftovers.ts";
import type { FleetPlan, PlanLimits } from "./pulumi/plan.ts";

export type { TargetName };

/**
 * Where a namespace's agents live, and everything that can be done to them. Each namespace has
 * exactly one target, named in its record (`{ target, record }`, see registry.ts); every command
 * goes through it, so no two commands can disagree about what a namespace is, and no code outside
 * the registry asks which target it holds.
 */
export interface Target<Record = unknown, UpRequest = unknown, Prepared = UpRequest> {
  readonly name: TargetName;
  /** Where its agents are, in words for messages: "this machine's Docker engine". */
  readonly where: string;
  /** The flag of `up` that chooses it, for messages: `--localhost`, `--ssh-host`, `--cloud gcp`. */
  readonly upFlag: string;
  /** What the namespace keeps locally (in `target.json`), checked whenever it is read. */
  readonly recordSchema: z.ZodType<Record>;
  /** What `up` would make, checked against the limits and the target's own rules; nothing is made. */
  plan(context: TargetContext, request: UpRequest, limits: PlanLimits, now: Date): Promise<UpPlan<Prepared>>;
  /**
   * Makes the fleet of a plan, records the namespace, and returns its inventory; aborting removes
   * what was made. Called through registry.ts `upNamespace`, which first claims the namespace.
   */
  up(context: TargetContext, prepared: Prepared, control: UpControl): Promise<Inventory>;
  /** A namespace of this target, from its record (none for a namespace that has no record yet). */
  open(context: TargetContext, namespace: Namespace, record: Record | undefined): OpenNamespace;
  /** Where a detached runner lives on a fleet of this target known only by its inventory (`run --inventory`). */
  runnerHome(fleet: Inventory): RunnerHome;
  /**
   * The rows of `list` for this target's namespaces: those recorded as its own (`recorded`), or
   * whatever it finds by itself (this machine's engine lists its containers by label).
   */
  listed(context: TargetContext, recorded: readonly OpenNamespace[]): Promise<NamespaceSummary[]>;
  /**
   * Removes what expired. Targets that share what they reap (the Pulumi project holds the stacks
   * of every cloud) share one reaper object, which `reap` runs once.
   */
  readonly reaper: Reaper;
}

export interface UpControl {
  progress: Progress;
  /** Aborting (Ctrl+C) removes what was made. */
  signal: AbortSignal;
  /** The user's word that `up` may replace VMs (`--replace-vms`), where the plan says it would. */
  replaceVms?: boolean;
}

export interface UpPlan<Prepared> {
  fleet: FleetPlan;
  /** Why the plan is refused (bad input): above a limit, or against the target's rules. */
  problem?: string;
  /** What going ahead would replace, which needs the user's word (`UpControl.replaceVms`). */
  replacement?: string;
  /** What `up` makes, as the plan settled it. */
  prepared: Prepared;
}

/** A namespace opened through its target: what the fleet commands do to it. */
export interface OpenNamespace {
  readonly target: Target;
  readonly namespace: Namespace;
  /** The live agents, or undefined when there are none. */
  inventory(): Promise<Inventory | undefined>;
  agents(): Promise<AgentRow[]>;
  /** The summary `list` shows. */
  summary(): Promise<NamespaceSummary>;
  /** Removes everything of the namespace, then its state directory (nothing, dry). */
  destroy(dryRun: boolean): Promise<Removal>;
  /** Moves the expiry of everything of the namespace to `request.expiresAt`, the local record of it included. */
  extend(request: ExtendRequest): Promise<Extension>;
  /** What another target's `up` is told when it claims this namespace ("is a Pulumi stack"), or undefined when nothing of it exists. */
  holding(claimant: Target): Promise<string | undefined>;
  /** Where a detached runner of a run on this namespace lives; `fleet` is its inventory, once read. */
  runnerHome(fleet?: Inventory): RunnerHome;
  /**
   * After an expiry: removes (or, dry, reports) the namespace's local state once nothing of it is
   * left but what this reap removed (`gone`, container ids). True when it was (would be) removed.
   */
  reapState(now: Date, dryRun: boolean, gone: ReadonlySet<string>): Promise<boolean>;
}

/**
 * Where a detached runner lives on a target, as plain data: src/runs/homes/ builds the home.
 * - `engine-container`: a container on a Docker engine, this machine's or an SSH host's (`hosts`, the first of them).
 * - `agent-process`: a process on one of the fleet's agents (its runner group's).
 * - `local-process`: a process of this machine, which ends with it; `why` says so when the user could do better.
 */
export type RunnerHome =
  | { home: "engine-container"; engine: "this-machine" }
  | { home: "engine-container"; engine: "ssh-host"; hosts: ReadonlyArray<{ user: string; host: string; port: number; hostKey: string }>; operatorKeyPath: string }
  | { home: "agent-process"; agent: AgentSpec }
  | { home: "local-process"; why?: string };

export interface Reaper {
  reap(context: TargetContext & { cwd: string }, request: ReapRequest, namespaces: readonly OpenNamespace[], gone: Set<string>): Promise<TargetReap>;
}

export interface ReapRequest {
  now: Date;
  dryRun: boolean;
  /** Only this owner's containers (`--owner`); every owner's when unset. */
  scope: ReapScope;
}

export interface ReapedContainer {
  namespace: string;
  agent: string;
  /** `localhost`, or the SSH host it was on. */
  where: string;
}

/** What one reaper did; `reap` merges them. */
export interface TargetReap {
  expired: ReapedContainer[];
  /** SSH hosts that could not be reaped, and why. */
  unreachable: Array<{ host: string; error: string }>;
  stacks?: StackReap;
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

/** One agent as `list --namespace` shows it. */
export interface AgentRow {
  name: string;
  address: string;
  portRange: string;
  state: string;
  expiresAt: string | null;
  containerId?: string;
}

/** One namespace as `list` shows it. */
export interface NamespaceSummary {
  namespace: string;
  target: TargetName;
  /** null where counting them would need the Pulumi CLI or an unreachable host. */
  agents: number | null;
  running: number | null;
  owner: string;
  expiresAt: string | null;
  note?: string;
}

export interface Removal {
  /** What was (or, dry, would be) removed: agents by name, containers serving runs by role. */
  names: string[];
  /** True when something other than agents was among them (Grafana). */
  notOnlyAgents: boolean;
  /** The Pulumi stack destroyed with it. */
  stack?: { name: string; cloud: string };
}

export interface Extension {
  expiresAt: Date;
  /** The agents (or resources) that now expire then. */
  names: string[];
}

/** `extend --ttl 4h`: the new expiry, and the TTL as written, counted from `now`. */
export interface ExtendRequest {
  expiresAt: Date;
  ttl: string;
  ttlSeconds: number;
  now: Date;
  /** The user's word that the extension may replace VMs (a Pulumi stack's, whose boot scripts carry the expiry). */
  replaceVms?: boolean;
}
