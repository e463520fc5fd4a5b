import type { HistoryEntry } from "../history/entry.ts";
import type { CompletedOp } from "./operations.ts";
import type { CheckerResult } from "./result.ts";

/** What every checker reads: the whole history, and its operations paired invoke → completion. */
export interface CheckInput {
  entries: readonly HistoryEntry[];
  ops: readonly CompletedOp[];
}

export interface CheckContext {
  /** Wall time a checker that searches (the register checker) may spend before answering "unknown". */
  timeLimitMs?: number;
}

/**
 * Jepsen's checker protocol: a pure function of a history that answers valid (true), invalid
 * (false) or "unknown". The named checkers implement it, and a scenario may pass its own to
 * `cloud.history.check(...)` next to the named ones.
 */
export interface Checker {
  /** Shown in the report; a scenario's own checker should not reuse a built-in name. */
  readonly name: string;
  check(input: CheckInput, context: CheckContext): CheckerResult;
}

export function isChecker(value: unknown): value is Checker {
  return typeof value === "object" && value !== null && typeof (value as Checker).name === "string" && typeof (value as Checker).check === "function";
}
