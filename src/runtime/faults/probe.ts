/**
 * What an agent can do, as `fieldtest-fault probe` reports it (one `name=ok|reason` a line).
 * A fault a target cannot honour is refused with these reasons, never skipped.
 */
export const CAPABILITIES = ["iptables", "netem", "htb", "delayer", "faketime"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface Capabilities {
  /** `undefined` for a capability the agent has; otherwise why not. */
  missing: Partial<Record<Capability, string>>;
  /** The interface of the agent's default route (tc faults shape it). */
  device: string | undefined;
}

export function parseProbe(output: string): Capabilities {
  const values = new Map<string, string>();
  for (const line of output.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  const missing: Capabilities["missing"] = {};
  for (const name of CAPABILITIES) {
    const value = values.get(name);
    if (value !== "ok") missing[name] = value || "not reported by the agent's fieldtest-fault";
  }
  return { missing, device: values.get("device") || undefined };
}

export class FaultRefusedError extends Error {
  constructor(readonly kind: string, readonly reasons: ReadonlyArray<{ agent: string; reason: string }>) {
    super(`${kind} refused: ${reasons.map((r) => `${r.agent}: ${r.reason}`).join("; ")}`);
  }
}
