import { AGENT_SSH_PORT, checkNumber, list, names, type FaultKindModule, type FaultOptions } from "../kind.ts";
import type { Agents } from "../target.ts";

export interface LossSpec extends FaultOptions {
  /** Agents whose incoming packets are dropped. */
  to: Agents;
  /** Only packets from these agents; default: from everyone except fieldtest's own SSH. */
  from?: Agents;
  percent: number;
}

/** Drops about `percent` % of the packets arriving at `to` (iptables' statistic match). */
export const loss: FaultKindModule<LossSpec> = {
  kind: "loss",
  needs: { iptables: ["iptables"] },
  heals: "removes the fault's iptables chains",
  async plan(spec) {
    checkNumber("loss", "percent", spec.percent, 0, 100);
    const to = list(spec.to);
    const from = spec.from === undefined ? undefined : list(spec.from);
    const probability = (spec.percent / 100).toFixed(4);
    const drop = `-m statistic --mode random --probability ${probability} -j DROP`;
    const applications = to.map((agent) => ({
      agent,
      args: ["rules"],
      rules: from
        ? from.filter((f) => f.name !== agent.name).map((f) => `IN -s ${f.internalHost} ${drop}`).join("\n")
        : [`IN -p tcp --dport ${AGENT_SSH_PORT} -j RETURN`, `IN ${drop}`].join("\n"),
    }));
    const targets = names([...to, ...(from ?? [])]);
    const params = { to: names(to), ...(from ? { from: names(from) } : {}), percent: spec.percent };
    return { targets, params, mechanism: "iptables", applications, needs: { iptables: to } };
  },
};
