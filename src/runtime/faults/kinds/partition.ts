import type { Grudge } from "../grudge.ts";
import type { Application, FaultKindModule } from "../kind.ts";
import type { FaultAgent } from "../target.ts";

export interface PartitionSpec {
  /** `grudge.get(a)` holds the agents whose packets `a` drops. */
  grudge: Grudge;
  agentsByName: ReadonlyMap<string, FaultAgent>;
}

/** A grudge: each agent drops every packet from and to the agents it holds a grudge against. */
export const partition: FaultKindModule<PartitionSpec> = {
  kind: "partition",
  needs: { iptables: ["iptables"] },
  heals: "removes the fault's iptables chains",
  async plan({ grudge, agentsByName }) {
    const agentOf = (name: string) => {
      const agent = agentsByName.get(name);
      if (!agent) throw new Error(`partition: no agent named ${name}`);
      return agent;
    };
    const applications: Application[] = [];
    for (const [name, dropped] of grudge) {
      if (dropped.size === 0) continue;
      const addresses = [...dropped].map((other) => agentOf(other).internalHost);
      applications.push({ agent: agentOf(name), args: ["rules"], rules: addresses.flatMap((ip) => [`IN -s ${ip} -j DROP`, `OUT -d ${ip} -j DROP`]).join("\n") });
    }
    const targets = [...new Set([...grudge.keys(), ...[...grudge.values()].flatMap((s) => [...s])])];
    const params = { grudge: Object.fromEntries([...grudge].map(([k, v]) => [k, [...v]])) };
    return { targets, params, mechanism: "iptables", applications, needs: { iptables: applications.map((a) => a.agent) } };
  },
};
