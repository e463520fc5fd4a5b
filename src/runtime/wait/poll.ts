/**
 * Readiness checks polled against a deadline, never a fixed sleep: each attempt is one round
 * trip, the pause between attempts grows from 50 ms to 1 s, and a timeout says what was awaited
 * and what the last attempt saw.
 */

export class WaitTimeoutError extends Error {}

export const DEFAULT_WAIT_MS = 30_000;

/** Polls `attempt` until it returns a result, or throws WaitTimeoutError with `describe(lastProblem)`. */
export async function pollUntil<T>(
  timeoutMs: number,
  attempt: (remainingMs: number) => Promise<{ done: true; value: T } | { done: false; problem: string }>,
  describe: (lastProblem: string) => string,
): Promise<T> {
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
  const deadline = Date.now() + timeoutMs;
  let pause = 50;
  let problem: string | undefined;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new WaitTimeoutError(describe(problem ?? "no attempt finished"));
    const outcome = await attempt(remaining);
    if (outcome.done) return outcome.value;
    const left = deadline - Date.now();
    // An attempt the deadline cut short ("socket hang up") says less than the one before it
    // ("the last answer was status 404"): the timeout reports the last one that ended in time.
    if (left <= 0) throw new WaitTimeoutError(describe(problem ?? outcome.problem));
    problem = outcome.problem;
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    pause = Math.min(pause * 2, 1000);
  }
}
