import type { MeasureResult } from "./context.ts";
import type { Stats } from "./stats.ts";

type Row = Omit<MeasureResult, "ratio" | "met"> & { met?: boolean | null };

/** A result row: the ratio is fieldtest's median over the baseline's, in the row's unit. */
export function row(input: Row): MeasureResult {
  return { ...input, ratio: ratioOf(input.fieldtest, input.baseline), met: input.met ?? null };
}

export function ratioOf(fieldtest: Stats, baseline: Stats): number {
  return fieldtest.median / baseline.median;
}
