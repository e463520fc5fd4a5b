import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { ensureNamespaceNetwork, networkConfig, removeNetworkOnceFree } from "../../src/targets/docker-engine/network.ts";
import { removeContainers } from "../../src/targets/docker-engine/provisioner.ts";
import { rawLabels, startRawContainer, type RawOptions } from "./raw-docker.ts";

/**
 * The raw Docker floor in the own-network mode: a bridge network made as fieldtest makes a
 * namespace's (a free /24 of its pool: Docker accepts fixed addresses only in a subnet it was
 * given), then the agent image created and started on it with fieldtest's settings for an
 * own-network agent (its address, NET_ADMIN and NET_RAW), as `docker network create --subnet`
 * + `docker run --network --ip` would, each waited for until its sshd port accepts TCP. No
 * keys made, no SSH.
 */
export interface RawNetworkFleet {
  networkId: string;
  ids: string[];
}

export async function rawUpOwnNetwork(docker: Docker, count: number, options: RawOptions, portsPerAgent: number): Promise<RawNetworkFleet> {
  const labels = rawLabels(options);
  // Labelled with the bench's raw namespace, named afresh each round: a network a round could not
  // remove (below) is never reused with its stale endpoints.
  const network = await ensureNamespaceNetwork(docker, `${options.namespace}-${randomBytes(2).toString("hex")}`, labels);
  const ids: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: count }, (_, index) => startRawContainer(docker, options, labels, networkConfig({ mode: "own", network, index, portsPerAgent }), ids)),
    );
  } catch (error) {
    await rawDownOwnNetwork(docker, { networkId: network.id, ids });
    throw error;
  }
  return { networkId: network.id, ids };
}

export async function rawDownOwnNetwork(docker: Docker, fleet: RawNetworkFleet): Promise<void> {
  await removeContainers(docker, fleet.ids);
  // As in `destroy`: Docker 20.10 can keep a stale endpoint of a force-removed container; the
  // labelled network is then left to the bench's cleanup and to `reap`.
  await removeNetworkOnceFree(docker, fleet.networkId).catch(() => {});
}
