import type { FaultKindModule, FaultOptions } from "../kind.ts";

export interface PauseSpec extends FaultOptions {
  daemon: { readonly name: string; readonly agentName: string; readonly pidFilePath: string };
}

/**
 * Pauses a daemon (SIGSTOP to its process group) until heal or the deadline, when the agent
 * itself sends SIGCONT. For a pause with no deadline, `daemon.pause()` / `daemon.resume()`.
 */
export const pause: FaultKindModule<PauseSpec> = {
  kind: "pause",
  needs: { SIGSTOP: [] },
  heals: "sends SIGCONT to the daemon's process group",
  async plan({ daemon }, context) {
    const agent = context.fleet.find((a) => a.name === daemon.agentName);
    if (!agent) throw new Error(`pause: daemon ${daemon.name} runs on ${daemon.agentName}, which is not an agent of this fleet`);
    return { targets: [agent.name], params: { daemon: daemon.name }, mechanism: "SIGSTOP", applications: [{ agent, args: ["pause", daemon.pidFilePath] }], needs: {} };
  },
};
