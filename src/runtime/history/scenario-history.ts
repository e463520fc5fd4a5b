import type { CheckerName } from "../checkers/names.ts";
import type { OpInput, PendingOp } from "./writer.ts";

/**
 * `cloud.history`: what a scenario records for checking, in Jepsen's shape. `invoke` before
 * the call and `ok` / `fail` / `info` after it, from the same `process`; `info` when the
 * outcome is unknown (a timeout). `check` names the checkers that run over the operations
 * at the end of the run and again with `fieldtest check <run dir>`.
 */
export interface ScenarioHistory {
  invoke(op: OpInput): PendingOp;
  ok(op: OpInput): void;
  fail(op: OpInput & { error?: unknown }): void;
  info(op: OpInput & { error?: unknown }): void;
  /** Anything else worth a line in the history: a fault injected, a milestone. */
  recordEvent(type: string, data?: unknown): void;
  check(...checkers: CheckerName[]): void;
}

export type { OpInput, PendingOp } from "./writer.ts";
