export type HttpWait = "ready" | "ended" | "timeout";

/**
 * Polls `url` until it answers 2xx, the process serving it has `ended`, or `timeoutMs` has
 * passed. The caller words the failure: only it knows what the process was and why it matters.
 */
export async function waitForHttp(url: string, timeoutMs: number, ended: () => boolean | Promise<boolean>, headers: Record<string, string> = {}): Promise<HttpWait> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ended()) return "ended";
    const ok = await fetch(url, { headers, signal: AbortSignal.timeout(1000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return "ready";
    if (Date.now() > deadline) return "timeout";
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
