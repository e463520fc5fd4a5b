/**
 * Polls `attempt` until it returns a value, pausing 100 ms and then longer (up to 500 ms) between
 * tries; after `timeoutMs` it fails saying what it waited for. Shared by the reference fleets.
 */
export async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 100; ; pause = Math.min(pause * 2, 500)) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
