/** The kinds of fault `cloud.faults` applies, as named in events, metrics and refusals. */
export type FaultKind = "partition" | "cut" | "delay" | "loss" | "bandwidth" | "clock" | "pause";

/** Who ended a fault: the runner's heal, its deadline (runner-side timer), or a heal of everything. */
export type HealCause = "heal" | "deadline" | "heal-all";

/**
 * One fault start or stop, as it goes to a run's history (the long-run history's
 * `recordEvent(type, data)`: pass `event.type` and the event) and the website's timeline.
 */
export type FaultEvent =
  | {
      type: "fault-start";
      id: string;
      kind: FaultKind;
      /** Every agent the fault changes something on or about. */
      targets: string[];
      params: Record<string, unknown>;
      /** ISO time the fault was in force everywhere. */
      at: string;
      /** ISO time the agents heal it by themselves, whatever the runner does. */
      deadline: string;
      /** How it was applied: iptables, nfqueue-delayer, netem, htb, libfaketime. */
      mechanism: string;
    }
  | { type: "fault-stop"; id: string; kind: FaultKind; targets: string[]; at: string; by: HealCause };

/** Receives every fault event; connect the run history or a test's recorder here. */
export interface FaultObserver {
  faultEvent(event: FaultEvent): void;
}

/** One line for the run's log: `fault-start partition 1a2b3c4d on agent-001, agent-002 (iptables, heals by …)`. */
export function describeFaultEvent(event: FaultEvent): string {
  const on = `${event.kind} ${event.id} on ${event.targets.join(", ")}`;
  if (event.type === "fault-stop") return `fault-stop ${on} (${event.by})`;
  return `fault-start ${on} ${JSON.stringify(event.params)} (${event.mechanism}, heals by ${event.deadline})`;
}

/** The Prometheus series that shades fault windows: 1 while active, 0 after, per kind and target. */
export const FAULT_ACTIVE_METRIC = "fieldtest_fault_active";
