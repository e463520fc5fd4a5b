/** What a checker says about a history. `unknown` is honest: the time limit was hit, or nothing was there to check. */
export type Validity = true | false | "unknown";

export interface CheckerResult {
  checker: string;
  valid: Validity;
  /** One sentence a person reads first. */
  summary: string;
  /**
   * Set when the history holds none of the operations this checker reads (a counter's history
   * given to the register checker): its `valid` is then "unknown", shown as "not applicable".
   */
  notApplicable?: true;
  [detail: string]: unknown;
}

/** Jepsen's merge: any invalid makes the whole invalid, else any unknown makes it unknown. */
export function mergeValidity(values: readonly Validity[]): Validity {
  if (values.includes(false)) return false;
  if (values.includes("unknown")) return "unknown";
  return true;
}

/** How a person reads a checker's verdict: valid, INVALID, unknown or not applicable. */
export function verdictText(result: Pick<CheckerResult, "valid" | "notApplicable">): string {
  if (result.notApplicable) return "not applicable";
  return result.valid === true ? "valid" : result.valid === false ? "INVALID" : "unknown";
}
