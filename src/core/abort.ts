/**
 * Rejects with the signal's reason as soon as it aborts (at once if it already has), so a long
 * step can race a Ctrl+C; the work itself is left to the caller's teardown. Without a signal,
 * the work as it is.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** An operation cut by an abort signal: it names what was cut, and its cause is the signal's reason. */
export class AbortedError extends Error {
  constructor(what: string, readonly reason: unknown) {
    super(`${what} was cut: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
    this.name = "AbortedError";
  }
}

/** `abortable`, rejecting with an AbortedError that names `what` (an agent and its command or wait). */
export function cutBy<T>(work: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return work;
  return abortable(work, signal).catch((error: unknown) => {
    if (signal.aborted && error === signal.reason) throw new AbortedError(what, signal.reason);
    throw error;
  });
}

/** One signal for a call: the run's and the caller's own, either aborting it. */
export function eitherSignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  return given.length <= 1 ? given[0] : AbortSignal.any(given);
}
