import type { HistoryEntry } from "../history/entry.ts";
import { operations } from "../history/reader.ts";
import type { CheckContext, Checker, CheckInput } from "./checker.ts";
import { CHECKERS_EVENT, isCheckerName, type CheckerName } from "./names.ts";
import { pairOperations } from "./operations.ts";
import { NAMED_CHECKERS } from "./registry.ts";
import { mergeValidity, type CheckerResult, type Validity } from "./result.ts";

export { CHECKERS, CHECKERS_EVENT, isCheckerName, type CheckerName } from "./names.ts";
export { isChecker, type Checker, type CheckContext, type CheckInput } from "./checker.ts";

export interface CheckOptions {
  /** Which checkers; default: those the history's "checkers" events name. */
  checkers?: readonly CheckerName[];
  /** Checkers the scenario passed itself (`history.check(myChecker)`), run after the named ones. */
  custom?: readonly Checker[];
  /** The register checker's time limit. */
  timeLimitMs?: number;
}

export interface CheckReport {
  valid: Validity;
  checkers: CheckerResult[];
  operations: number;
}

/** The checker names a scenario recorded with `cloud.history.check(...)`, in order, once each. */
export function requestedCheckers(entries: readonly HistoryEntry[]): CheckerName[] {
  const names = new Set<CheckerName>();
  for (const entry of entries) {
    if (entry.kind !== "event" || entry.type !== CHECKERS_EVENT) continue;
    for (const name of (entry.data as { checkers?: unknown[] } | undefined)?.checkers ?? []) {
      if (isCheckerName(name)) names.add(name);
    }
  }
  return [...names];
}

/** Runs the checkers over a history; pure, so `fieldtest check` later gives the same answer. */
export function checkHistory(entries: readonly HistoryEntry[], options: CheckOptions = {}): CheckReport {
  const input: CheckInput = { entries, ops: pairOperations(operations(entries)) };
  const context: CheckContext = options.timeLimitMs === undefined ? {} : { timeLimitMs: options.timeLimitMs };
  const named = (options.checkers ?? requestedCheckers(entries)).map((name) => NAMED_CHECKERS[name]);
  const checkers = [...named, ...(options.custom ?? [])].map((checker) => runChecker(checker, input, context));
  return { valid: checkers.length ? mergeValidity(checkers.map((c) => c.valid)) : "unknown", checkers, operations: input.ops.length };
}

/** A checker that throws says nothing about the history: its answer is "unknown", with the error, as in Jepsen. */
function runChecker(checker: Checker, input: CheckInput, context: CheckContext): CheckerResult {
  try {
    const result = checker.check(input, context);
    if (result.valid === true || result.valid === false || result.valid === "unknown") return result;
    return { checker: checker.name, valid: "unknown", summary: `the checker answered valid: ${JSON.stringify(result.valid)}, not true, false or "unknown"` };
  } catch (error) {
    return { checker: checker.name, valid: "unknown", summary: `the checker threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export type { CheckerResult, Validity } from "./result.ts";
