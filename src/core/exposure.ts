import { AGENT_SSH_PORT } from "./defaults.ts";
import type { Exposure } from "./stack-config.ts";

/**
 * What a cloud fleet opens to whom, as target-neutral rules: GCP turns each into a firewall
 * rule, AWS into security group ingress. Everything not listed is closed to the outside; egress
 * stays open (the VMs install Docker and pull their image at boot).
 */

/** The ops door: the VM's own sshd, logged in with the namespace's client key. */
export const OPS_SSH_PORT = 22;

export type PortSpan = [first: number, last: number];

export interface ExposureRule {
  /** Suffix of the rule's cloud name, `<ns>-<name>`. */
  name: string;
  description: string;
  /** CIDRs, or the namespace's own agents (a GCP network tag, an AWS security group's `self`). */
  from: string[] | "agents";
  allow: Array<{ protocol: "tcp" | "udp"; ports: PortSpan[] }>;
}

/** The rules of a fleet whose agents hold `portRange` (sshd on its first port). */
export function exposureRules(portRange: PortSpan, exposure: Exposure): ExposureRule[] {
  const rules: ExposureRule[] = [
    {
      name: "ssh",
      description: "agent sshd and the ops door, from fieldtest:sshSourceRanges",
      from: exposure.sshSourceRanges,
      allow: [{ protocol: "tcp", ports: [[OPS_SSH_PORT, OPS_SSH_PORT], [AGENT_SSH_PORT, AGENT_SSH_PORT]] }],
    },
    {
      name: "agents",
      description: "the agents' ports, between the namespace's agents",
      from: "agents",
      allow: [
        { protocol: "tcp", ports: [portRange] },
        { protocol: "udp", ports: [portRange] },
      ],
    },
  ];
  if (exposure.orchestratorRanges.length > 0) {
    rules.push({
      name: "orchestrator",
      description: "the agents' ports, from fieldtest:orchestratorRanges",
      from: exposure.orchestratorRanges,
      allow: [
        { protocol: "tcp", ports: [portRange] },
        { protocol: "udp", ports: [portRange] },
      ],
    });
  }
  exposure.openPorts.forEach((open, i) => {
    rules.push({
      name: `open-${i}`,
      description: `fieldtest:openPorts[${i}]`,
      from: open.sourceRanges,
      allow: [{ protocol: open.protocol, ports: [open.ports] }],
    });
  });
  return rules;
}

/** `30000-30099`, or `22` for a single port. */
export function portSpanText([first, last]: PortSpan): string {
  return first === last ? `${first}` : `${first}-${last}`;
}

/** One line per rule, for the plan: `tcp 22, 30000  from 203.0.113.7/32  (…)`. */
export function describeExposure(portRange: PortSpan, exposure: Exposure): string[] {
  return exposureRules(portRange, exposure).map((rule) => {
    const ports = rule.allow.map(({ protocol, ports }) => `${protocol} ${ports.map(portSpanText).join(", ")}`).join(" + ");
    const from = rule.from === "agents" ? "the namespace's agents only" : rule.from.join(", ");
    return `${ports}  from ${from}`;
  });
}
