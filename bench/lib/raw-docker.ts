import { connect } from "node:net";
import type Docker from "dockerode";
import { expiryAfter, LABELS, resourceLabels } from "../../src/core/namespace.ts";
import { agentHardening } from "../../src/targets/docker-engine/hardening.ts";
import { AGENT_LABELS } from "../../src/targets/docker-engine/labels.ts";
import { networkConfig, type AgentNetwork } from "../../src/targets/docker-engine/network.ts";
import { FIRST_AGENT_PORT, formatRange, LAST_USABLE_PORT, overlaps, parseRange, portIsFree, type PortRange } from "../../src/targets/docker-engine/ports.ts";
import { listFieldtestContainers, removeContainers } from "../../src/targets/docker-engine/provisioner.ts";

/**
 * The raw Docker floor: the agent image started through the Engine API (what `docker run`
 * does: create, then start) with the configuration fieldtest gives its agents (network,
 * hardening, keys in the environment), and nothing else: no key generation, no readiness over
 * SSH. The containers carry the bench's own namespace and port-range labels, so concurrent
 * `fieldtest up` commands keep off their ports and the bench removes exactly them.
 */
export interface RawFleet {
  ids: string[];
}

export interface RawOptions {
  image: string;
  namespace: string;
  /** The keys' environment (provisioner.ts agentKeysEnv), one host key for every container. */
  keysEnv: string[];
  ttlSeconds: number;
}

/**
 * Slices for raw containers, from the top of the port space down: fieldtest allocates from
 * the bottom and checks for races only among its own containers, so staying at the other end
 * keeps the baseline out of the way of concurrent `fieldtest up` commands.
 */
export async function rawSlices(docker: Docker, count: number, portsPerAgent: number): Promise<PortRange[]> {
  const taken = (await listFieldtestContainers(docker))
    .map((c) => parseRange(c.Labels[AGENT_LABELS.portRange]))
    .filter((r): r is PortRange => r !== undefined);
  const chosen: PortRange[] = [];
  for (let first = LAST_USABLE_PORT - portsPerAgent + 1; chosen.length < count; first -= portsPerAgent) {
    if (first < FIRST_AGENT_PORT) throw new Error(`no free port slices left for ${count} raw containers`);
    const slice: PortRange = [first, first + portsPerAgent - 1];
    if (![...taken, ...chosen].some((other) => overlaps(slice, other)) && (await portIsFree(first))) chosen.push(slice);
  }
  return chosen;
}

/** The bench's labels for raw containers, expiring with the TTL. */
export function rawLabels(options: RawOptions): Record<string, string> {
  const expiresAt = expiryAfter(options.ttlSeconds);
  return { ...resourceLabels({ namespace: options.namespace, expiresAt, owner: "bench" }), "fieldtest-bench": "raw-docker-baseline" };
}

/**
 * Creates and starts one container with fieldtest's settings for an agent on `net`, and waits
 * until its sshd port accepts TCP; `created` learns its id at once, so a failure removes it.
 */
export async function startRawContainer(docker: Docker, options: RawOptions, labels: Record<string, string>, net: AgentNetwork, created: string[]): Promise<void> {
  const container = await docker.createContainer({
    Image: options.image,
    Labels: { ...labels, [AGENT_LABELS.portRange]: formatRange(net.portRange) },
    Env: [`FIELDTEST_EXPIRES_AT=${labels[LABELS.expiresAt]}`, `FIELDTEST_SSH_PORT=${net.listenPort}`, `FIELDTEST_LISTEN=${net.listen}`, ...options.keysEnv],
    ...(net.networkingConfig ? { NetworkingConfig: net.networkingConfig } : {}),
    HostConfig: { ...net.hostConfig, ...agentHardening({ extraCapabilities: net.hostConfig.CapAdd ?? [] }), AutoRemove: true, Init: true },
  });
  created.push(container.id);
  await container.start();
  await waitForPort(net.sshPort, Date.now() + 60_000, net.host);
}

/** Creates and starts one container per slice, in parallel; resolves once every sshd port accepts TCP. */
export async function rawUp(docker: Docker, slices: readonly PortRange[], options: RawOptions): Promise<RawFleet> {
  const labels = rawLabels(options);
  const ids: string[] = [];
  try {
    await Promise.all(slices.map((slice) => startRawContainer(docker, options, labels, networkConfig({ mode: "host", address: "127.0.0.1", listen: "127.0.0.1", slice }), ids)));
  } catch (error) {
    await removeContainers(docker, ids);
    throw error;
  }
  return { ids };
}

export function rawDown(docker: Docker, fleet: RawFleet): Promise<void> {
  return removeContainers(docker, fleet.ids);
}

/** Polls until host:port (default 127.0.0.1) accepts a TCP connection. */
export async function waitForPort(port: number, deadline: number, host = "127.0.0.1", intervalMs = 5): Promise<void> {
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open in time`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
