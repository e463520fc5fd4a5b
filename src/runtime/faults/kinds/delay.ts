import { checkNumber, list, names, type FaultKindModule, type FaultOptions } from "../kind.ts";
import { FaultRefusedError } from "../probe.ts";
import type { Capability } from "../probe.ts";
import type { Agents } from "../target.ts";

const NETEM: readonly Capability[] = ["iptables", "netem"];
const DELAYER: readonly Capability[] = ["iptables", "delayer"];

export interface DelaySpec extends FaultOptions {
  from: Agents;
  to: Agents;
  /** Added to every packet from `from` to `to`, so a round trip grows by this much. */
  ms: number;
  /** Each packet's delay varies uniformly by up to this much either way (default 0). */
  jitterMs?: number;
}

/**
 * Delays every packet from `from` to `to`. With netem on the senders it shapes their egress;
 * where the kernel has no netem (this project's machines), fieldtest-delayer holds the packets
 * on the receivers' NFQUEUE. Neither: refused with both reasons.
 */
export const delay: FaultKindModule<DelaySpec> = {
  kind: "delay",
  needs: { netem: NETEM, "nfqueue-delayer": DELAYER },
  heals: "removes the netem qdisc, or the NFQUEUE rules and stops the delayer",
  async plan(spec, context) {
    checkNumber("delay", "ms", spec.ms, 0, 60_000);
    const jitter = spec.jitterMs ?? 0;
    checkNumber("delay", "jitterMs", jitter, 0, spec.ms || 60_000);
    const from = list(spec.from);
    const to = list(spec.to);
    const targets = names([...from, ...to]);
    const params = { from: names(from), to: names(to), ms: spec.ms, jitterMs: jitter };
    const senders = await context.missing(from, NETEM);
    if (senders.length === 0) {
      const applications = await Promise.all(
        from.map(async (agent) => ({
          agent,
          args: ["netem", await context.device(agent), String(spec.ms), String(jitter), ...to.filter((t) => t.name !== agent.name).map((t) => t.internalHost)],
        })),
      );
      return { targets, params, mechanism: "netem", applications, needs: {} };
    }
    const receivers = await context.missing(to, DELAYER);
    if (receivers.length > 0) throw new FaultRefusedError("delay", [...senders.map(withMechanism("netem on the sender")), ...receivers.map(withMechanism("NFQUEUE delayer on the receiver"))]);
    const applications = to.map((agent) => ({
      agent,
      args: ["delay", String(spec.ms), String(jitter)],
      rules: from.filter((f) => f.name !== agent.name).map((f) => `IN -s ${f.internalHost} -j DELAY`).join("\n"),
    }));
    return { targets, params, mechanism: "nfqueue-delayer", applications, needs: {} };
  },
};

function withMechanism(mechanism: string) {
  return ({ agent, reason }: { agent: string; reason: string }) => ({ agent, reason: `${mechanism}: ${reason}` });
}
