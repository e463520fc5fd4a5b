import type { HistoryEntry } from "../history/entry.ts";
import { operations } from "../history/reader.ts";
import { checkCounter } from "./counter.ts";
import { pairOperations } from "./operations.ts";
import { checkRegister } from "./register.ts";
import { mergeValidity, type CheckerResult, type Validity } from "./result.ts";
import { checkSet } from "./set.ts";

import { CHECKERS_EVENT, isCheckerName, type CheckerName } from "./names.ts";

export { CHECKERS, CHECKERS_EVENT, isCheckerName, type CheckerName } from "./names.ts";

export interface CheckOptions {
  /** Which checkers; default: those the history's "checkers" events name. */
  checkers?: readonly CheckerName[];
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
  const ops = pairOperations(operations(entries));
  const names = options.checkers ?? requestedCheckers(entries);
  const checkers = names.map((name) => {
    if (name === "counter") return checkCounter(ops);
    if (name === "set") return checkSet(ops);
    return checkRegister(ops, options.timeLimitMs === undefined ? {} : { timeLimitMs: options.timeLimitMs });
  });
  return { valid: checkers.length ? mergeValidity(checkers.map((c) => c.valid)) : "unknown", checkers, operations: ops.length };
}

export { verdictText, type CheckerResult, type Validity } from "./result.ts";
