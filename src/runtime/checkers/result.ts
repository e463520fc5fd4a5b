/** What a checker says about a history. `unknown` is honest: the time limit was hit, or nothing was there to check. */
export type Validity = true | false | "unknown";

export interface CheckerResult {
  checker: string;
  valid: Validity;
  /** One sentence a person reads first. */
  summary: string;
  [detail: string]: unknown;
}

/** Jepsen's merge: any invalid makes the whole invalid, else any unknown makes it unknown. */
export function mergeValidity(values: readonly Validity[]): Validity {
  if (values.includes(false)) return false;
  if (values.includes("unknown")) return "unknown";
  return true;
}
