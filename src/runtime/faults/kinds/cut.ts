import { list, names, type FaultKindModule, type FaultOptions } from "../kind.ts";
import type { Agents } from "../target.ts";

export interface CutSpec extends FaultOptions {
  /** `from` can no longer open connections (or start flows) to `to`; `to` still reaches `from`. */
  from: Agents;
  to: Agents;
}

/** One-way: new connections from `from` to `to` fail; `to` still connects to `from`. */
export const cut: FaultKindModule<CutSpec> = {
  kind: "cut",
  needs: { iptables: ["iptables"] },
  heals: "removes the fault's iptables chains on the receivers",
  async plan(spec) {
    const from = list(spec.from);
    const to = list(spec.to);
    const applications = to.map((agent) => ({
      agent,
      args: ["rules"],
      rules: from.filter((f) => f.name !== agent.name).map((f) => `IN -s ${f.internalHost} -m conntrack --ctstate NEW,INVALID -j DROP`).join("\n"),
    }));
    return { targets: names([...from, ...to]), params: { from: names(from), to: names(to) }, mechanism: "iptables", applications, needs: { iptables: to } };
  },
};
