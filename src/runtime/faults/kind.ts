import type { FaultKind } from "./events.ts";
import type { Capability } from "./probe.ts";
import type { Agents, FaultAgent } from "./target.ts";

/** Heal after this long, or by default at the end of the run or, at the latest, the agents' TTL. */
export interface FaultOptions {
  /**
   * Heal after this long. The agents enforce it themselves, so it holds when the runner dies.
   * Default: the end of the run (the runner's heal) or, at the latest, the agents' TTL.
   */
  healAfterMs?: number;
}

/** One agent's part of a fault: `fieldtest-fault apply ID DEADLINE <args>`, with iptables rules a line. */
export interface Application {
  agent: FaultAgent;
  args: string[];
  rules?: string;
}

/** What a kind decided to do: the Nemesis applies it on every agent at once, or on none. */
export interface FaultPlan {
  /** Every agent the fault changes something on or about. */
  targets: readonly string[];
  params: Record<string, unknown>;
  /** How it is applied (iptables, netem, nfqueue-delayer, htb, libfaketime, SIGSTOP), for the events. */
  mechanism: string;
  applications: readonly Application[];
  /** The capabilities the agents named must have; checked before anything is applied. */
  needs: Partial<Record<Capability, readonly FaultAgent[]>>;
}

/** What a kind may ask of the fleet while planning. */
export interface PlanContext {
  /** Every agent of the fleet. */
  readonly fleet: readonly FaultAgent[];
  /** The interface the agent's default route leaves by (tc shapes it); refused where there is none. */
  device(agent: FaultAgent): Promise<string>;
  /** The agents (with reasons) that lack one of `needs`. */
  missing(agents: readonly FaultAgent[], needs: readonly Capability[]): Promise<Array<{ agent: string; reason: string }>>;
  /** Refuses the fault (FaultRefusedError) when an agent lacks what it needs. */
  require(needs: Partial<Record<Capability, readonly FaultAgent[]>>): Promise<void>;
}

/**
 * One kind of fault, Jepsen's nemesis split by kind: what it needs on the agents, how it is
 * applied (`plan`, turned into `fieldtest-fault apply` requests) and how it heals. Every kind
 * heals the same way, by fault id: the agent's `fieldtest-fault` records the undo steps when it
 * applies, runs them at `heal ID` and, whatever the runner does, at the deadline.
 */
export interface FaultKindModule<Spec> {
  readonly kind: FaultKind;
  /** The capabilities (as `fieldtest-fault probe` reports them) of each way the kind can be applied. */
  readonly needs: Readonly<Record<string, readonly Capability[]>>;
  /** What the agent's heal undoes, in a sentence. */
  readonly heals: string;
  plan(spec: Spec, context: PlanContext): Promise<FaultPlan>;
}

/** sshd's port inside an agent with a network of its own; fieldtest's SSH is never shaped. */
export const AGENT_SSH_PORT = 30000;

export function list<A extends FaultAgent>(agents: Agents<A>): readonly A[] {
  return Array.isArray(agents) ? (agents as readonly A[]) : [agents as A];
}

export function names(agents: readonly FaultAgent[]): string[] {
  return [...new Set(agents.map((a) => a.name))];
}

export function checkNumber(kind: string, field: string, value: number, min: number, max: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${kind}: ${field} must be a number from ${min} to ${max}, not ${String(value)}`);
  }
}
