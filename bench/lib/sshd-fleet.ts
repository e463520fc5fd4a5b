import { buffer } from "node:stream/consumers";
import type Docker from "dockerode";
import { pack as tarPack } from "tar-stream";
import type { AgentSpec, Inventory } from "../../src/core/inventory.ts";
import { expiryAfter, LABELS, resourceLabels } from "../../src/core/namespace.ts";
import { generateEd25519KeyPair } from "../../src/transport/keys.ts";
import { destroyLocalhost } from "../../src/targets/docker-engine/provisioner.ts";
import { ensureNamespaceNetwork } from "../../src/targets/docker-engine/network.ts";
import { waitForPort } from "./raw-docker.ts";

/**
 * Many agents from few containers: each container of the agent image runs `perContainer` sshd
 * instances, one per port of its own address on a bridge network of the fleet's namespace,
 * and the fleet is described by one inventory, as a cloud's would be. Each instance logs in a
 * user of its own, an alias of root (uid 0) with its own home, so an agent's files, copies and
 * manifests are its own while it has what a real agent has (root, the image's tools); agents of
 * one container share its pid space and its CPU. Each sshd runs with `-r` (no re-exec per
 * connection), which halves its CPU per handshake (18 → 10 ms here): the endpoints share the
 * runner's machine, and their handshakes are the agents' work, not the runner's. Every container carries the namespace's labels;
 * `downSshdFleet` (or `destroyLocalhost`) removes them, and each one leaves at its TTL anyway.
 */
export interface SshdFleetOptions {
  image: string;
  namespace: string;
  owner: string;
  containers: number;
  perContainer: number;
  /** The client key every agent accepts. */
  clientPublicKey: string;
  ttlSeconds: number;
}

/** sshd of the i-th agent of a container listens on FIRST_PORT + i × PORTS_PER_AGENT, the first of its slice. */
const FIRST_PORT = 20000;
const PORTS_PER_AGENT = 10;
/** A thousand sshd starting on a loaded 2-core machine take a while. */
const START_TIMEOUT_MS = 180_000;

// Runs as the container's main process: $1 agents, from port $2, $3 ports apart, until $4 (unix seconds).
const ENDPOINTS_SCRIPT = String.raw`
set -euo pipefail
count=$1 first=$2 step=$3 expires=$4
trap 'exit 0' TERM INT
mkdir -p /run/sshd
for ((i = 0; i < count; i++)); do
  user=$(printf 'agent%03d' "$i") home=/home/$(printf 'agent%03d' "$i")
  echo "$user:x:0:0:fieldtest endpoint $i:$home:/bin/bash" >> /etc/passwd
  echo "$user:*:20000:0:99999:7:::" >> /etc/shadow
  mkdir -p "$home/.ssh"
  install -m 600 /root/.ssh/authorized_keys "$home/.ssh/authorized_keys"
  /usr/sbin/sshd -r -D -e -o LogLevel=ERROR -p $((first + i * step)) &
done
remaining=$(( expires - $(date +%s) ))
(( remaining > 0 )) || exit 0
sleep "$remaining" &
wait $!
`;

export interface SshdFleet {
  namespace: string;
  inventory: Inventory;
  containerIds: string[];
}

/** Creates the namespace's network and containers, and resolves once every sshd accepts TCP. */
export async function upSshdFleet(docker: Docker, options: SshdFleetOptions): Promise<SshdFleet> {
  const expiresAt = expiryAfter(options.ttlSeconds);
  const labels: Record<string, string> = { ...resourceLabels({ namespace: options.namespace, expiresAt, owner: options.owner }), "fieldtest-bench": "sshd-fleet" };
  const network = await ensureNamespaceNetwork(docker, options.namespace, labels);
  const createdAt = new Date().toISOString();
  const containerIds: string[] = [];
  const agents: AgentSpec[][] = await Promise.all(
    Array.from({ length: options.containers }, async (_, c) => {
      const hostKey = generateEd25519KeyPair(`fieldtest-${options.namespace}-endpoints-${c}`);
      const container = await docker.createContainer({
        Image: options.image,
        Labels: labels,
        Entrypoint: ["/bin/bash", "-c", ENDPOINTS_SCRIPT, "endpoints"],
        Cmd: [String(options.perContainer), String(FIRST_PORT), String(PORTS_PER_AGENT), labels[LABELS.expiresAt]!],
        HostConfig: { NetworkMode: network.name, AutoRemove: true, Init: true },
      });
      containerIds.push(container.id);
      await container.putArchive(await keysArchive(hostKey.privateKey, options.clientPublicKey), { path: "/" });
      await container.start();
      const address = (await container.inspect()).NetworkSettings.Networks[network.name]?.IPAddress;
      if (!address) throw new Error(`endpoint container ${container.id.slice(0, 12)} has no address on ${network.name}`);
      // The script starts its sshd in port order: waited for one after the other, each is polled
      // about once, where a thousand polled at once would take the CPU the sshd need to start.
      const deadline = Date.now() + START_TIMEOUT_MS;
      const specs: AgentSpec[] = [];
      for (let i = 0; i < options.perContainer; i++) {
        const port = FIRST_PORT + i * PORTS_PER_AGENT;
        await waitForPort(port, deadline, address, 50);
        specs.push({
          name: `agent-${String(c * options.perContainer + i + 1).padStart(4, "0")}`,
          host: address,
          sshPort: port,
          user: `agent${String(i).padStart(3, "0")}`,
          hostKey: hostKey.publicKey,
          portRange: [port, port + PORTS_PER_AGENT - 1],
          labels: { container: String(c) },
          group: "agent",
        });
      }
      return specs;
    }),
  );
  const inventory: Inventory = { namespace: options.namespace, target: "ssh", createdAt, expiresAt: expiresAt.toISOString(), agents: agents.flat() };
  return { namespace: options.namespace, inventory, containerIds };
}

/** Removes the namespace's containers and network, whatever state they are in. */
export async function downSshdFleet(docker: Docker, namespace: string): Promise<void> {
  await destroyLocalhost(docker, namespace);
}

function keysArchive(hostPrivateKey: string, authorizedKey: string): Promise<Buffer> {
  const archive = tarPack();
  archive.entry({ name: "etc/ssh/ssh_host_ed25519_key", mode: 0o600 }, hostPrivateKey);
  archive.entry({ name: "root/.ssh/authorized_keys", mode: 0o600 }, `${authorizedKey}\n`);
  archive.finalize();
  return buffer(archive);
}
