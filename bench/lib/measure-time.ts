import type { MeasureResult } from "./context.ts";

/**
 * How long a measure's agents may live: twice what the measure is expected to take, and ten
 * minutes more, so a slow or loaded machine still finishes before its own fleet expires (the
 * TTL stays, for a bench that is killed before it cleans up).
 */
export function ttlCovering(expectedSeconds: number): number {
  return Math.ceil(2 * expectedSeconds + 600);
}

/**
 * A measure that failed part way, with the rows of the steps it completed: the bench reports
 * them and then the failure, so an hour of figures is not lost to the last step.
 */
export class MeasureCutOff extends Error {
  constructor(
    readonly measure: string,
    readonly rows: MeasureResult[],
    readonly reason: unknown,
  ) {
    super(`${measure}: cut off after ${rows.length} row(s): ${reason instanceof Error ? reason.message : String(reason)}`);
  }
}

/**
 * Runs a measure's steps in order and makes its rows of their results. A step that fails
 * ends the measure: with a MeasureCutOff carrying the rows of the steps done before it, or
 * with the step's own error when none was done.
 */
export async function stepsUntilCutOff<T>(measure: string, steps: ReadonlyArray<() => Promise<T>>, rows: (done: readonly T[]) => MeasureResult[]): Promise<MeasureResult[]> {
  const done: T[] = [];
  for (const step of steps) {
    try {
      done.push(await step());
    } catch (error) {
      if (done.length === 0) throw error;
      throw new MeasureCutOff(measure, rows(done), error);
    }
  }
  return rows(done);
}
