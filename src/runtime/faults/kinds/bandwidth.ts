import { AGENT_SSH_PORT, checkNumber, list, names, type FaultKindModule, type FaultOptions } from "../kind.ts";
import type { Agents } from "../target.ts";

export interface BandwidthSpec extends FaultOptions {
  /** Agents whose outgoing traffic is capped. */
  from: Agents;
  /** Only traffic to these agents; default: everything except fieldtest's own SSH. */
  to?: Agents;
  mbit: number;
}

/** Caps what `from` sends (to `to`, or to everyone but fieldtest's SSH) at `mbit` (htb). */
export const bandwidth: FaultKindModule<BandwidthSpec> = {
  kind: "bandwidth",
  needs: { htb: ["iptables", "htb"] },
  heals: "removes the htb qdisc and its iptables marks",
  async plan(spec, context) {
    checkNumber("bandwidth", "mbit", spec.mbit, 0.01, 100_000);
    const from = list(spec.from);
    const to = spec.to === undefined ? [] : list(spec.to);
    await context.require({ iptables: from, htb: from });
    const applications = await Promise.all(
      from.map(async (agent) => ({
        agent,
        args: ["bandwidth", await context.device(agent), String(spec.mbit), String(AGENT_SSH_PORT), ...to.filter((t) => t.name !== agent.name).map((t) => t.internalHost)],
      })),
    );
    const params = { from: names(from), ...(to.length ? { to: names(to) } : {}), mbit: spec.mbit };
    return { targets: names([...from, ...to]), params, mechanism: "htb", applications, needs: {} };
  },
};
