export const CHECKERS = ["counter", "set", "register"] as const;
export type CheckerName = (typeof CHECKERS)[number];

/** The history event by which a scenario names the checkers its operations are for. */
export const CHECKERS_EVENT = "checkers";

export function isCheckerName(name: unknown): name is CheckerName {
  return CHECKERS.includes(name as CheckerName);
}
