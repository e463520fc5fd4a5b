import type { Cloud } from "fieldtest";

export interface FaultRecord {
  /** What is done: `kill` (SIGKILL to a daemon's process group), `restart`. */
  kind: string;
  /** `<agent>/<daemon>`. */
  target: string;
  /** The recovery the fleet is expected to make, in words. */
  expected: string;
}

/** A reference fleet's fault, where a user watches for it: the run's log, a counter, and the run's history. */
export function recordFault(cloud: Cloud, fault: FaultRecord): void {
  cloud.log(`fault: ${fault.kind} ${fault.target}; expected recovery: ${fault.expected}`);
  cloud.pushMetric("fieldtest_faults_total", 1, { type: "counter", labels: { fault: fault.kind, target: fault.target }, help: "faults injected" });
  cloud.history.recordEvent("fault", fault);
}
