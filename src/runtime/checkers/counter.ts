import type { CompletedOp } from "./operations.ts";
import type { CheckerResult } from "./result.ts";

/**
 * A counter that only grows: `add` with a non-negative delta, `read` returning the count.
 * A read is valid when it lies between the adds certainly done before it started (acknowledged
 * before its invocation) and every add that may have happened before it ended (invoked before
 * its completion, acknowledged or not).
 */
export function checkCounter(ops: readonly CompletedOp[]): CheckerResult {
  const adds = ops.filter((op) => op.f === "add" && op.status !== "fail");
  const reads = ops.filter((op) => op.f === "read" && op.status === "ok");
  const badDelta = adds.find((op) => typeof op.input !== "number" || op.input < 0);
  if (badDelta) return { checker: "counter", valid: "unknown", summary: `add of ${JSON.stringify(badDelta.input)} by process ${badDelta.process}: the counter checker needs non-negative numbers` };
  if (reads.length === 0) return { checker: "counter", valid: "unknown", summary: "no acknowledged read to check", reads: 0 };
  const certain = adds.filter((op) => op.status === "ok").sort((a, b) => a.returnTime - b.returnTime);
  const possible = [...adds].sort((a, b) => a.invokeTime - b.invokeTime);
  const certainPrefix = prefixSums(certain.map((op) => op.input as number));
  const possiblePrefix = prefixSums(possible.map((op) => op.input as number));
  const errors: { process: number | string; read: unknown; lower: number; upper: number }[] = [];
  for (const read of reads) {
    const lower = certainPrefix[countBefore(certain, (op) => op.returnTime, read.invokeTime)] ?? 0;
    const upper = possiblePrefix[countBefore(possible, (op) => op.invokeTime, read.returnTime)] ?? 0;
    const value = read.output;
    if (typeof value !== "number" || value < lower || value > upper) errors.push({ process: read.process, read: value, lower, upper });
  }
  return {
    checker: "counter",
    valid: errors.length === 0,
    summary: errors.length === 0 ? `${reads.length} read(s) within bounds` : `${errors.length} of ${reads.length} read(s) outside what the adds allow`,
    reads: reads.length,
    errors: errors.slice(0, 20),
  };
}

function prefixSums(values: readonly number[]): number[] {
  const sums = [0];
  for (const value of values) sums.push((sums[sums.length - 1] ?? 0) + value);
  return sums;
}

/** How many of the sorted ops have `time(op) < limit`. */
function countBefore(sorted: readonly CompletedOp[], time: (op: CompletedOp) => number, limit: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (time(sorted[mid] as CompletedOp) < limit) low = mid + 1;
    else high = mid;
  }
  return low;
}
