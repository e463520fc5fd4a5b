import type Docker from "dockerode";
import { z } from "zod";
import type { Inventory } from "../../core/inventory.ts";
import type { Namespace } from "../../core/namespace.ts";
import { namespaceState, type TargetContext } from "../context.ts";
import { agentContainers, agentRow, containerName, reapedContainers, refuseEarlierExpiry, removal, summarize } from "../docker-engine/containers.ts";
import { assertDockerAvailable, DockerUnavailableError } from "../docker-engine/docker.ts";
import { withEffectiveExpiry } from "../docker-engine/extension.ts";
import { provisionEngineFleet, type EngineFleetRequest } from "../docker-engine/fleet-up.ts";
import { isAgentContainer } from "../docker-engine/labels.ts";
import { destroyLocalhost, extendLocalhost, listFieldtestContainers, localInventory, namespaceContainers, reapLocalhost, upLocalhost } from "../docker-engine/provisioner.ts";
import { containerPlan, limitProblem } from "../pulumi/plan.ts";
import type { AgentRow, Extension, ExtendRequest, NamespaceSummary, OpenNamespace, Reaper, Removal, RunnerHome, Target, UpControl } from "../target.ts";

/** This machine's Docker engine, once it answers; otherwise an error saying how to start it. */
export async function availableDocker(context: TargetContext): Promise<Docker> {
  const docker = context.docker();
  await assertDockerAvailable(docker);
  return docker;
}

/** Its agents are found by label on the engine: the record holds nothing. */
const localhostRecordSchema = z.object({});
type LocalhostRecord = z.infer<typeof localhostRecordSchema>;

/** A namespace of agent containers on this machine's engine. */
class LocalhostNamespace implements OpenNamespace {
  readonly target = localhostTarget;

  constructor(
    private readonly context: TargetContext,
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
    // What `reap` reads to know when the state may go; a namespace with nothing to extend gets none.
    if (extended.length) await namespaceState(this.context, this.namespace).writeExpiry(expiresAt);
    return { expiresAt, names: extended.map(containerName).sort() };
  }

  /** Without an engine there are no containers, so nothing of the namespace holds it. */
  async holding(claimant: Target): Promise<string | undefined> {
    const containers = await availableDocker(this.context)
      .then((docker) => namespaceContainers(docker, this.namespace))
      .catch((error: unknown) => {
        if (error instanceof DockerUnavailableError) return [];
        throw error;
      });
    return containers.length ? `has agents on ${localhostTarget.where}, and ${claimant.where} cannot hold it too` : undefined;
  }

  runnerHome(): RunnerHome {
    return { home: "engine-container", engine: "this-machine" };
  }

  async reapState(now: Date, dryRun: boolean, gone: ReadonlySet<string>): Promise<boolean> {
    const state = namespaceState(this.context, this.namespace);
    const expiresAt = await state.readExpiry();
    if (!expiresAt || expiresAt > now) return false;
    const left = await namespaceContainers(await availableDocker(this.context), this.namespace);
    if (left.some((c) => !gone.has(c.Id))) return false;
    if (!dryRun) await state.remove();
    return true;
  }
}

/** Every expired container of this machine's engine, whatever its namespace; not those an earlier reaper already removed. */
const localhostReaper: Reaper = {
  async reap(context, { now, dryRun, scope }, _namespaces, gone) {
    const local = (await reapLocalhost(await availableDocker(context), now, dryRun, scope)).filter((c) => !gone.has(c.Id));
    local.forEach((c) => gone.add(c.Id));
    return { expired: reapedContainers(local, "localhost"), unreachable: [] };
  },
};

export const localhostTarget: Target<LocalhostRecord, EngineFleetRequest> = {
  name: "localhost",
  where: "this machine's Docker engine",
  upFlag: "--localhost",
  recordSchema: localhostRecordSchema,
  reaper: localhostReaper,

  async plan(_context, request, limits, now) {
    const fleet = containerPlan(request, "localhost", localhostTarget.where, limits, now);
    const problem = limitProblem(fleet);
    return { fleet, ...(problem ? { problem } : {}), prepared: request };
  },

  /** Provisions agents on this machine's engine; an abort during it removes what was created. */
  async up(context: TargetContext, request: EngineFleetRequest, control: UpControl): Promise<Inventory> {
    const docker = await availableDocker(context);
    return provisionEngineFleet(context, request, control, {
      target: localhostTarget,
      record: {},
      where: "on localhost",
      up: async (options) => upLocalhost(docker, { ...options, inboxDir: await namespaceState(context, request.namespace).inbox() }),
      sweep: () => destroyLocalhost(docker, request.namespace),
    });
  },

  open(context, namespace) {
    return new LocalhostNamespace(context, namespace);
  },

  runnerHome: () => ({ home: "engine-container", engine: "this-machine" }),

  /** Every namespace with agents on this machine's engine, summarized from one listing, records or not. */
  async listed(context) {
    const docker = await availableDocker(context);
    return summarize(await withEffectiveExpiry(docker, (await listFieldtestContainers(docker)).filter(isAgentContainer)), "localhost");
  },
};
