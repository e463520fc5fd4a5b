import { access } from "node:fs/promises";
import { join } from "node:path";
import { abortable } from "../../abort.ts";
import type { Inventory } from "../../core/inventory.ts";
import type { NetworkMode } from "./network.ts";
import { isPublishedImage } from "../../core/images.ts";
import { expiryAfter, formatDuration, type Namespace } from "../../core/namespace.ts";
import { locateDockerfile, type ImageCatalog } from "./image.ts";
import { destroyLocalhost, upLocalhost, type ContainerGroup, type UpOptions } from "./provisioner.ts";
import type { Progress } from "../../progress.ts";
import { destroySshFleet, upSshHosts } from "../ssh-hosts/fleet.ts";
import { formatSshHost, knownHostKey, type SshHost } from "../ssh-hosts/host-spec.ts";
import type { BackendKind } from "../target.ts";
import { FleetInputError, namespaceState, type BackendContext } from "../context.ts";
import { availableDocker } from "../localhost/target.ts";
import { claimNamespace } from "../registry.ts";
import { readOperatorKey } from "../ssh-hosts/target.ts";

/** The `up` of the localhost and SSH-host backends: a fleet of agent containers. */
export interface LocalFleetRequest {
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

export interface SshHostsRequest {
  hosts: readonly SshHost[];
  /** The operator's private key, which the hosts accept. */
  operatorKeyPath: string;
  /** OpenSSH known_hosts file holding the hosts' keys. */
  knownHostsPath: string;
}

export interface ProvisionControl {
  progress: Progress;
  /** Aborting (Ctrl+C) removes what was made. */
  signal: AbortSignal;
}


/**
 * What both kinds share: the claim of the namespace, its client key, a sweep by label of what
 * an abort left, the pinned known_hosts file afterwards, and no state left behind by a failure
 * in a namespace this call created.
 */
async function provision(
  context: BackendContext,
  kind: BackendKind,
  request: LocalFleetRequest,
  control: ProvisionControl,
  where: string,
  up: (options: Omit<UpOptions, "engine">) => Promise<Inventory>,
  sweep: () => Promise<unknown>,
): Promise<Inventory> {
  await claimNamespace(context, request.namespace, kind);
  const images: ImageCatalog = { projectDirs: request.dockerfileDirs, fieldtestDir: join(context.packageRoot, "dockerfiles") };
  // Every alias has its Dockerfile before anything is made: a typo is bad input, and leaves nothing.
  for (const image of new Set(request.groups.map((group) => group.image))) {
    if (!isPublishedImage(image)) await locateDockerfile(images, image);
  }
  const state = namespaceState(context, request.namespace);
  const createdState = !(await access(state.dir).then(() => true, () => false));
  const { progress, signal } = control;
  const groups = request.groups.map((group) => `${group.name} ${group.count} × ${group.image}`).join(", ");
  progress.step(`namespace ${request.namespace}: ${groups} ${where}, ttl ${formatDuration(request.ttlSeconds)}`);
  try {
    // Recorded before any agent exists, so that `reap` knows when this state may go.
    await state.writeExpiry(expiryAfter(request.ttlSeconds));
    const options = {
      ...request,
      clientKey: await state.clientKey(),
      images,
      progress,
      signal,
    };
    const inventory = await abortable(up(options), signal).catch(async (error) => {
      // The provisioner removes its partial fleet itself; an abort may outrun it.
      if (signal.aborted) await sweep();
      throw error;
    });
    await state.writeKnownHosts(inventory);
    return inventory;
  } catch (error) {
    if (createdState) await state.remove();
    throw error;
  }
}

/** Provisions agents on this machine's engine; an abort during it removes what was created. */
export async function upLocalhostFleet(context: BackendContext, request: LocalFleetRequest, control: ProvisionControl): Promise<Inventory> {
  const docker = await availableDocker(context);
  const up = async (options: Omit<UpOptions, "engine">) => upLocalhost(docker, { ...options, inboxDir: await namespaceState(context, request.namespace).inbox() });
  return provision(context, "localhost", request, control, "on localhost", up, () => destroyLocalhost(docker, request.namespace));
}

/** Provisions agents on SSH hosts, whose keys must already be in the known_hosts file. */
export async function upSshFleet(context: BackendContext, request: LocalFleetRequest, hosts: SshHostsRequest, control: ProvisionControl): Promise<Inventory> {
  const privateKey = await readOperatorKey(hosts.operatorKeyPath);
  const access = await Promise.all(
    hosts.hosts.map(async (host) => ({
      host,
      privateKey,
      hostKey: await knownHostKey(hosts.knownHostsPath, host).catch((error: Error) => {
        throw new FleetInputError(error.message);
      }),
    })),
  );
  const record = { target: "ssh" as const, hosts: access.map(({ host, hostKey }) => ({ ...host, hostKey })), operatorKeyPath: hosts.operatorKeyPath };
  const state = namespaceState(context, request.namespace);
  const recorded = await state.readSshFleet();
  const up = async (options: Omit<UpOptions, "engine">) => {
    // Recorded before the hosts are touched, so that `destroy` and `reap` find them even after a crash.
    await state.writeSshFleet(record);
    return upSshHosts({ ...options, hosts: access }).catch(async (error) => {
      if (!recorded) await state.removeSshFleet();
      throw error;
    });
  };
  return provision(context, "ssh", request, control, `on ${hosts.hosts.map(formatSshHost).join(", ")}`, up, () => destroySshFleet(access, request.namespace, false));
}
