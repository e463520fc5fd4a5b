import type { FaultAgent } from "./target.ts";

export interface AgentHealReport {
  agent: string;
  /** What the agent removed: a `healed <id> (runner)` line per fault. */
  healed: string[];
  /** Why the agent could not be healed (unreachable, no fieldtest-fault), if it could not. */
  error?: string;
}

/** Runs `fieldtest-fault heal all` on every agent at once; one report per agent, failures included. */
export async function healAgents(agents: readonly FaultAgent[]): Promise<AgentHealReport[]> {
  return Promise.all(
    agents.map(async (agent): Promise<AgentHealReport> => {
      try {
        const result = await agent.exec(["fieldtest-fault", "heal", "all"], { allowFailure: true });
        const healed = result.stdout.split("\n").filter(Boolean);
        if (result.code === 0) return { agent: agent.name, healed };
        const why = result.code === 127 ? "no fieldtest-fault on the agent (not a fieldtest agent image)" : result.stderr.trim() || `exit code ${result.code}`;
        return { agent: agent.name, healed, error: why };
      } catch (error) {
        return { agent: agent.name, healed: [], error: (error as Error).message };
      }
    }),
  );
}
