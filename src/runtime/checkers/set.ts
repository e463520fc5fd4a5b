import type { CompletedOp } from "./operations.ts";
import type { CheckerResult } from "./result.ts";

/**
 * A grow-only set: `add` of an element, `read` returning every element. Every add that was
 * acknowledged before the final read began must be in it ("lost" otherwise); the read must
 * hold nothing that was never added ("unexpected"). Adds of unknown outcome found in the read
 * are "recovered", which is fine.
 */
export function checkSet(ops: readonly CompletedOp[]): CheckerResult {
  const reads = ops.filter((op) => op.f === "read" && op.status === "ok").sort((a, b) => a.returnTime - b.returnTime);
  const final = reads[reads.length - 1];
  if (!final) return { checker: "set", valid: "unknown", summary: "no acknowledged read: nothing says what the set holds" };
  if (!Array.isArray(final.output)) return { checker: "set", valid: "unknown", summary: `the final read returned ${JSON.stringify(final.output)}, not an array of elements` };
  const seen = new Set(final.output.map((element) => JSON.stringify(element)));
  const adds = ops.filter((op) => op.f === "add");
  const attempted = new Set(adds.map((op) => JSON.stringify(op.input)));
  const lost = adds.filter((op) => op.status === "ok" && op.returnTime < final.invokeTime && !seen.has(JSON.stringify(op.input))).map((op) => op.input);
  const recovered = adds.filter((op) => (op.status === "info" || op.status === "pending") && seen.has(JSON.stringify(op.input))).map((op) => op.input);
  const unexpected = final.output.filter((element) => !attempted.has(JSON.stringify(element)));
  const acknowledged = adds.filter((op) => op.status === "ok").length;
  const valid = lost.length === 0 && unexpected.length === 0;
  return {
    checker: "set",
    valid,
    summary: valid ? `all ${acknowledged} acknowledged add(s) read` : `${lost.length} acknowledged add(s) lost, ${unexpected.length} unexpected element(s)`,
    acknowledged,
    lost: lost.slice(0, 50),
    lostCount: lost.length,
    unexpected: unexpected.slice(0, 50),
    recovered: recovered.length,
  };
}
