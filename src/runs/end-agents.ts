import type { Inventory } from "../core/inventory.ts";
import { Agent } from "../runtime/agent.ts";
import { HashCache } from "../runtime/hash-cache.ts";

/**
 * Ends every agent of a fleet from inside: its main process (behind the container's init, PID
 * 1) leaves on SIGTERM as it does at its TTL, and the container removes itself. This is how an
 * runner container, which has no Docker socket, tears down the fleet its run made. The
 * signal comes a moment after the command returns, so the SSH session ends cleanly first. An
 * agent that cannot be reached is left to its TTL; the names of those are returned.
 */
export async function endAgents(inventory: Inventory, privateKey: string): Promise<{ agent: string; error: string }[]> {
  const hashes = new HashCache();
  try {
    const results = await Promise.all(
      inventory.agents.map(async (spec) => {
        const agent = new Agent(spec, { privateKey, hashes, logSink: () => {} });
        try {
          await agent.exec("nohup sh -c 'sleep 0.3; kill -TERM 1' </dev/null >/dev/null 2>&1 &", { timeoutMs: 15_000 });
          return undefined;
        } catch (error) {
          return { agent: spec.name, error: (error as Error).message };
        } finally {
          await agent.close();
        }
      }),
    );
    return results.filter((r): r is { agent: string; error: string } => r !== undefined);
  } finally {
    await hashes.close();
  }
}
