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
