import type { AgentSpec } from "../../core/inventory.ts";
import { HostKeyMismatchError, SshConnection, sshTargetOf } from "../../transport/ssh-connection.ts";

export interface ReadinessOptions {
  deadline: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /**
   * Asked after every failed attempt, so it must be cheap: a reason means the agent can never
   * become ready (its container died).
   */
  gone?: () => Promise<string | undefined>;
}

const ATTEMPT_TIMEOUT_MS = 5000;

/**
 * Ready means an SSH handshake that verified the pinned host key and authenticated with the
 * client key, not an open port: it proves the agent's keys are in place and, on the host's
 * network, that the port is this agent's. No command follows: sshd accepted the user, and a
 * command's round trip (a session process and a shell on the agent) would only add to every
 * agent's bring-up. Polled every 10 ms, no fixed sleeps: an attempt before sshd listens is
 * refused at once.
 */
export async function waitForSsh(spec: AgentSpec, privateKey: string, options: ReadinessOptions): Promise<void> {
  const interval = options.intervalMs ?? 10;
  let lastError: Error | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    // Bounded per attempt: an address of its own that nobody answers (a dead agent on its own
    // network) hangs a connect instead of refusing it, and the container's death must still be seen.
    const connection = new SshConnection(
      sshTargetOf(spec, privateKey),
      Math.min(ATTEMPT_TIMEOUT_MS, Math.max(1000, options.deadline - Date.now())),
    );
    try {
      await connection.get();
      return;
    } catch (error) {
      if (error instanceof HostKeyMismatchError) throw error;
      lastError = error as Error;
    } finally {
      connection.close();
    }
    const reason = await options.gone?.();
    if (reason) throw new Error(`${spec.name} will not become ready: ${reason}`);
    if (Date.now() + interval > options.deadline) {
      throw new Error(`${spec.name} was not SSH-ready at ${spec.host}:${spec.sshPort} in time: ${lastError?.message ?? "no attempt made"}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
