import type { AgentSpec } from "../../core/inventory.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { HostKeyMismatchError, SshConnection, sshTargetOf } from "../../transport/ssh-connection.ts";

export interface ReadinessOptions {
  deadline: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** Asked between attempts: a reason means the agent can never become ready (its container died). */
  gone?: () => Promise<string | undefined>;
}

const ATTEMPT_TIMEOUT_MS = 5000;
/** An attempt this slow is worth a look at the container before the next one. */
const SLOW_ATTEMPT_MS = 500;

/**
 * Ready means an authenticated SSH round trip with the pinned host key, not an open port:
 * sshd accepts TCP before it has loaded its keys. Polled every 25 ms, no fixed sleeps.
 */
export async function waitForSsh(spec: AgentSpec, privateKey: string, options: ReadinessOptions): Promise<void> {
  const interval = options.intervalMs ?? 25;
  let lastError: Error | undefined;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    const began = Date.now();
    // Bounded per attempt: an address of its own that nobody answers (a dead agent on its own
    // network) hangs a connect instead of refusing it, and the container's death must still be seen.
    const connection = new SshConnection(
      sshTargetOf(spec, privateKey),
      Math.min(ATTEMPT_TIMEOUT_MS, Math.max(1000, options.deadline - Date.now())),
    );
    try {
      await execOnConnection(connection, spec.name, "true");
      return;
    } catch (error) {
      if (error instanceof HostKeyMismatchError) throw error;
      lastError = error as Error;
    } finally {
      connection.close();
    }
    if (attempt % 10 === 9 || Date.now() - began >= SLOW_ATTEMPT_MS) {
      const reason = await options.gone?.();
      if (reason) throw new Error(`${spec.name} will not become ready: ${reason}`);
    }
    if (Date.now() + interval > options.deadline) {
      throw new Error(`${spec.name} was not SSH-ready at ${spec.host}:${spec.sshPort} in time: ${lastError?.message ?? "no attempt made"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
