import type { Checker } from "../checkers/checker.ts";
import type { CheckerName } from "../checkers/names.ts";

export interface OpInput {
  process: number | string;
  f: string;
  value?: unknown;
  key?: string;
}

/** The completion of one invoked operation; call exactly one of them. */
export interface PendingOp {
  ok(value?: unknown): void;
  fail(error?: unknown): void;
  /** The outcome is unknown (a timeout, a crash): the operation may or may not have happened. */
  info(error?: unknown): void;
}

/**
 * `cloud.history`: what a scenario records for checking, in Jepsen's shape. `invoke` before
 * the call and `ok` / `fail` / `info` after it, from the same `process`; `info` when the
 * outcome is unknown (a timeout). `check` names the checkers that run over the operations
 * at the end of the run and again with `fieldtest check <run dir>`; it also takes the
 * scenario's own `Checker` objects, which run at the end of the run only (they are code, not
 * in the run directory).
 */
export interface ScenarioHistory {
  invoke(op: OpInput): PendingOp;
  ok(op: OpInput): void;
  fail(op: OpInput & { error?: unknown }): void;
  info(op: OpInput & { error?: unknown }): void;
  /** Anything else worth a line in the history: a fault injected, a milestone. */
  recordEvent(type: string, data?: unknown): void;
  check(...checkers: (CheckerName | Checker)[]): void;
}
