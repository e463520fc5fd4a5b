import type Docker from "dockerode";
import { expiryAfter, LABELS, resourceLabels } from "../../src/core/namespace.ts";
import { AGENT_LABELS } from "../../src/targets/docker-engine/labels.ts";
import { removeNetworkOnceFree } from "../../src/targets/docker-engine/network.ts";
import { removeContainers } from "../../src/targets/docker-engine/provisioner.ts";
import { waitForPort } from "./raw-docker.ts";
import type { RawOptions } from "./raw-docker.ts";

/**
 * The raw Docker floor in the own-network mode: a bridge network made through the Engine API
 * (Docker picks its subnet), then the agent image created and started on it with NET_ADMIN,
 * as `docker network create` + `docker run --network` would, each container's address read
 * back with inspect and waited for until its sshd port accepts TCP. No keys, no SSH.
 */
export interface RawNetworkFleet {
  networkId: string;
  ids: string[];
}

export async function rawUpOwnNetwork(docker: Docker, count: number, options: RawOptions, name: string): Promise<RawNetworkFleet> {
  const expiresAt = expiryAfter(options.ttlSeconds);
  const labels: Record<string, string> = { ...resourceLabels({ namespace: options.namespace, expiresAt, owner: "bench" }), "fieldtest-bench": "raw-docker-baseline" };
  const network = await docker.createNetwork({ Name: name, Driver: "bridge", Labels: { ...labels, [AGENT_LABELS.network]: "own" } });
  const ids: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, async () => {
        const container = await docker.createContainer({
          Image: options.image,
          Labels: { ...labels, [AGENT_LABELS.network]: "own" },
          Env: [`FIELDTEST_EXPIRES_AT=${labels[LABELS.expiresAt]}`, "FIELDTEST_SSH_PORT=30000", "FIELDTEST_LISTEN=0.0.0.0"],
          HostConfig: { NetworkMode: name, CapAdd: ["NET_ADMIN"], AutoRemove: true, Init: true, Binds: [`${options.hostKeyPath}:/etc/ssh/ssh_host_ed25519_key:ro`] },
        });
        ids.push(container.id);
        await container.start();
        const address = (await container.inspect()).NetworkSettings.Networks[name]?.IPAddress;
        if (!address) throw new Error(`raw container ${container.id.slice(0, 12)} has no address on ${name}`);
        await waitForPort(30000, Date.now() + 60_000, address);
      }),
    );
  } catch (error) {
    await rawDownOwnNetwork(docker, { networkId: network.id, ids });
    throw error;
  }
  return { networkId: network.id, ids };
}

export async function rawDownOwnNetwork(docker: Docker, fleet: RawNetworkFleet): Promise<void> {
  await removeContainers(docker, fleet.ids);
  await removeNetworkOnceFree(docker, fleet.networkId);
}
