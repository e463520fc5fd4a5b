import { access } from "node:fs/promises";
import { join } from "node:path";
import { abortable } from "../../core/abort.ts";
import type { Inventory } from "../../core/inventory.ts";
import { isPublishedImage } from "../../core/images.ts";
import { expiryAfter, formatDuration, type Namespace } from "../../core/namespace.ts";
import { namespaceState, type TargetContext } from "../context.ts";
import type { Target, UpControl } from "../target.ts";
import { locateDockerfile, type ImageCatalog } from "./image.ts";
import type { NetworkMode } from "./network.ts";
import type { ContainerGroup, UpOptions } from "./provisioner.ts";

/** The `up` of the targets whose agents are containers on Docker engines (localhost, SSH hosts). */
export interface EngineFleetRequest {
  namespace: Namespace;
  groups: ContainerGroup[];
  ttlSeconds: number;
  portsPerAgent: number;
  /** The user's directories of Dockerfiles, searched before fieldtest's own (src/scenario.ts scenarioDockerfileDirs). */
  dockerfileDirs: string[];
  owner: string;
  /** Localhost: each agent on a network of its own (the default), or on the host's. */
  network?: NetworkMode;
}

export interface EngineFleetUp<Record> {
  target: Target<Record>;
  record: Record;
  /** Where, in words for the progress line: `on localhost`. */
  where: string;
  up: (options: Omit<UpOptions, "engine">) => Promise<Inventory>;
  /** Removes by label what an abort left. */
  sweep: () => Promise<unknown>;
}

/**
 * What the engine targets share (once the namespace is claimed): its client key and record, a sweep
 * by label of what an abort left, the pinned known_hosts file afterwards, and no state left
 * behind by a failure in a namespace this call created.
 */
export async function provisionEngineFleet<Record>(context: TargetContext, request: EngineFleetRequest, control: UpControl, how: EngineFleetUp<Record>): Promise<Inventory> {
  const images: ImageCatalog = { projectDirs: request.dockerfileDirs, fieldtestDir: join(context.packageRoot, "dockerfiles") };
  // Every alias has its Dockerfile before anything is made: a typo is bad input, and leaves nothing.
  for (const image of new Set(request.groups.map((group) => group.image))) {
    if (!isPublishedImage(image)) locateDockerfile(images, image);
  }
  const state = namespaceState(context, request.namespace);
  const createdState = !(await access(state.dir).then(() => true, () => false));
  const recorded = await state.readTargetRecord();
  const { progress, signal } = control;
  const groups = request.groups.map((group) => `${group.name} ${group.count} × ${group.image}`).join(", ");
  progress.step(`namespace ${request.namespace}: ${groups} ${how.where}, ttl ${formatDuration(request.ttlSeconds)}`);
  try {
    // Recorded before any agent exists, so that `destroy` and `reap` find them even after a crash.
    await state.writeExpiry(expiryAfter(request.ttlSeconds));
    await state.writeTargetRecord({ target: how.target.name, record: how.record });
    const options = { ...request, clientKey: await state.clientKey(), images, progress, signal };
    const inventory = await abortable(how.up(options), signal).catch(async (error) => {
      // The provisioner removes its partial fleet itself; an abort may outrun it.
      if (signal.aborted) await how.sweep();
      if (!recorded) await state.removeTargetRecord();
      throw error;
    });
    await state.writeKnownHosts(inventory);
    return inventory;
  } catch (error) {
    if (createdState) await state.remove();
    throw error;
  }
}
