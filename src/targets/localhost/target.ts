import type Docker from "dockerode";
import type { Inventory } from "../../core/inventory.ts";
import type { Namespace } from "../../core/namespace.ts";
import { assertDockerAvailable } from "../docker-engine/docker.ts";
import { withEffectiveExpiry } from "../docker-engine/extension.ts";
import { isAgentContainer } from "../docker-engine/labels.ts";
import { destroyLocalhost, extendLocalhost, listFieldtestContainers, localInventory } from "../docker-engine/provisioner.ts";
import type { AgentRow, Extension, ExtendRequest, FleetBackend, NamespaceSummary, Removal } from "../target.ts";
import { agentContainers, agentRow, containerName, refuseEarlierExpiry, removal, summarize } from "../docker-engine/containers.ts";
import { namespaceState, type BackendContext } from "../context.ts";

/** This machine's Docker engine, once it answers; otherwise an error saying how to start it. */
export async function availableDocker(context: BackendContext): Promise<Docker> {
  const docker = context.docker();
  await assertDockerAvailable(docker);
  return docker;
}

/** A namespace with no record: its agents are containers of this machine's engine, found by label. */
export class LocalhostBackend implements FleetBackend {
  readonly kind = "localhost";

  constructor(
    private readonly context: BackendContext,
    readonly namespace: Namespace,
  ) {}

  async inventory(): Promise<Inventory | undefined> {
    return localInventory(await availableDocker(this.context), this.namespace);
  }

  async agents(): Promise<AgentRow[]> {
    return (await agentContainers([await availableDocker(this.context)], this.namespace)).map(agentRow);
  }

  async summary(): Promise<NamespaceSummary> {
    const containers = await agentContainers([await availableDocker(this.context)], this.namespace);
    return summarize(containers, "localhost")[0] ?? { namespace: this.namespace, target: "localhost", agents: 0, running: 0, owner: "", expiresAt: null };
  }

  async destroy(dryRun: boolean): Promise<Removal> {
    const removed = await destroyLocalhost(await availableDocker(this.context), this.namespace, dryRun);
    if (!dryRun) await namespaceState(this.context, this.namespace).remove();
    return removal(removed);
  }

  async extend({ expiresAt }: ExtendRequest): Promise<Extension> {
    const docker = await availableDocker(this.context);
    refuseEarlierExpiry(this.namespace, await agentContainers([docker], this.namespace), expiresAt);
    const extended = await extendLocalhost(docker, this.namespace, expiresAt);
    return { expiresAt, names: extended.map(containerName).sort() };
  }
}

/** Every namespace with agents on this machine's engine, summarized from one listing. */
export async function localhostSummaries(context: BackendContext): Promise<NamespaceSummary[]> {
  const docker = await availableDocker(context);
  return summarize(await withEffectiveExpiry(docker, (await listFieldtestContainers(docker)).filter(isAgentContainer)), "localhost");
}
