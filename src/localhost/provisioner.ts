import { randomInt } from "node:crypto";
import { Writable, type Duplex } from "node:stream";
import { buffer } from "node:stream/consumers";
import type Docker from "dockerode";
import { pack as tarPack } from "tar-stream";
import type { Inventory } from "../core/inventory.ts";
import { generateEd25519KeyPair, type SshKeyPair } from "../keys.ts";
import { belongsToNamespace, expiresAtFromLabels, expiryAfter, LABELS, resourceLabels, type Namespace } from "../core/namespace.ts";
import { agentName } from "../core/naming.ts";
import { containerLimits, type Shape } from "../core/shapes.ts";
import type { Progress } from "../progress.ts";
import { isGoneOrGoing } from "./docker.ts";
import { ensureFleetImages, type ImageCatalog } from "./image.ts";
import { AGENT_INBOX, AGENT_LABELS, inventoryFromContainers, LOCALHOST_ADDRESS, type LabelledContainer } from "./labels.ts";
import { allocateSlices, formatRange, overlaps, parseRange, portIsFree, type PortRange } from "./ports.ts";
import { waitForSsh } from "./readiness.ts";

/** The Docker engine agents are created on, and how they are reached there. */
export interface Engine {
  target: "localhost" | "ssh";
  /** Address the runner and other agents use to reach agents on this engine. */
  address: string;
  /** Address sshd listens on inside the agent (host network). */
  listen: string;
  /** Whether a port is free on the engine's host, checked before a slice is chosen. */
  portIsFree: (port: number) => Promise<boolean>;
}

export const LOCAL_ENGINE: Engine = { target: "localhost", address: LOCALHOST_ADDRESS, listen: LOCALHOST_ADDRESS, portIsFree };

/** A group of agents to create on one engine: `<name>-NNN`, numbered from `firstIndex` (agents of the group on other engines come before). */
export interface ContainerGroup {
  name: string;
  count: number;
  /** An image alias of the catalog, or a published image reference. */
  image: string;
  /** Becomes the container's CPU and memory limits. */
  shape?: Shape;
  firstIndex?: number;
}

/** One agent container to create. */
interface AgentToCreate {
  name: string;
  group: string;
  image: string;
  imageTag: string;
  limits?: { NanoCpus: number; Memory: number };
}

export interface UpOptions {
  namespace: Namespace;
  groups: readonly ContainerGroup[];
  ttlSeconds: number;
  portsPerAgent: number;
  owner: string;
  clientKey: SshKeyPair;
  images: ImageCatalog;
  progress: Progress;
  /** Aborting removes whatever was created so far. */
  signal?: AbortSignal;
  /** How long agents may take to become SSH-ready (default 60 s). */
  readyTimeoutMs?: number;
  /** Default: this machine's engine, agents on 127.0.0.1. */
  engine?: Engine;
  /**
   * An existing directory of this machine for agents to mount read-only at AGENT_INBOX, so
   * copies skip SSH's encryption. Only for agents on this machine's engine.
   */
  inboxDir?: string;
}

export class NamespaceInUseError extends Error {}

const ALLOCATION_ATTEMPTS = 6;

function containerName(namespace: Namespace, agent: string): string {
  return `fieldtest-${namespace}-${agent}`;
}

/** Every fieldtest container on this engine; selection by namespace is done on exact labels. */
export async function listFieldtestContainers(docker: Docker): Promise<LabelledContainer[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [LABELS.namespace] } });
  return containers.map((c) => ({ Id: c.Id, Labels: c.Labels, State: c.State }));
}

export async function namespaceContainers(docker: Docker, namespace: Namespace): Promise<LabelledContainer[]> {
  // The engine's label filter is exact too; the second check keeps that promise local and visible.
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.namespace}=${namespace}`] } });
  return containers
    .map((c) => ({ Id: c.Id, Labels: c.Labels, State: c.State }))
    .filter((c) => belongsToNamespace(c.Labels, namespace));
}

export async function localInventory(docker: Docker, namespace: Namespace): Promise<Inventory | undefined> {
  const containers = (await namespaceContainers(docker, namespace)).filter((c) => c.State === "running");
  return containers.length ? inventoryFromContainers(namespace, containers) : undefined;
}

/** The agents of the groups, group after group, with the engine's tag of each one's image. */
async function agentsToCreate(docker: Docker, options: UpOptions): Promise<AgentToCreate[]> {
  const groups = options.groups.filter((group) => group.count > 0);
  const tags = await ensureFleetImages(docker, options.images, groups.map((group) => group.image), options.progress);
  const engineCpus = groups.some((group) => group.shape) ? (await docker.info()).NCPU : 0;
  return groups.flatMap((group) =>
    Array.from({ length: group.count }, (_, i) => ({
      name: agentName(group.name, (group.firstIndex ?? 0) + i),
      group: group.name,
      image: group.image,
      imageTag: tags.get(group.image)!,
      ...(group.shape ? { limits: containerLimits(group.shape, engineCpus) } : {}),
    })),
  );
}

/**
 * Creates the groups' agents in parallel and returns their inventory once every one answers an
 * authenticated SSH command. On any failure or abort, the agents created so far are removed.
 */
export async function upLocalhost(docker: Docker, options: UpOptions): Promise<Inventory> {
  const { namespace, progress } = options;
  const existing = await namespaceContainers(docker, namespace);
  if (existing.length > 0) {
    throw new NamespaceInUseError(
      `namespace ${namespace} already has ${existing.length} agent(s); run against them with \`fieldtest run <scenario> --namespace ${namespace}\` or remove them with \`fieldtest destroy --namespace ${namespace}\``,
    );
  }
  const agents = await agentsToCreate(docker, options);
  options.signal?.throwIfAborted();

  const created: string[] = [];
  const outputs: CapturedOutput[] = [];
  try {
    const slices = await createWithFreeSlices(docker, agents, options, created);
    progress.step(`starting ${agents.length} agent(s) on ports ${slices.map(formatRange).join(", ")}`);
    outputs.push(...(await Promise.all(created.map((id) => captureOutput(docker, id)))));
    await Promise.all(created.map((id) => docker.getContainer(id).start()));
    const inventory = inventoryFromContainers(namespace, await namespaceContainers(docker, namespace));
    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    const started = Date.now();
    await Promise.all(
      inventory.agents.map(async (agent) => {
        // The inventory is sorted by name; containers were created in the groups' order.
        const i = agents.findIndex((planned) => planned.name === agent.name);
        await waitForSsh(agent, options.clientKey.privateKey, {
          deadline,
          signal: options.signal,
          gone: () => containerGone(docker, created[i]!, outputs[i]!),
        });
        progress.step(`${agent.name} ready at ${agent.host}:${agent.sshPort} (${((Date.now() - started) / 1000).toFixed(2)}s)`);
      }),
    );
    return inventory;
  } catch (error) {
    await removeContainers(docker, created);
    throw error;
  } finally {
    for (const output of outputs) output.stop();
  }
}

interface CapturedOutput {
  text(): string;
  stop(): void;
}

/**
 * The agent's own output from its first line: an agent that dies during bring-up is
 * auto-removed, and its logs with it, so they are read live while it starts.
 */
async function captureOutput(docker: Docker, id: string): Promise<CapturedOutput> {
  const stream = await docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true });
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text = (text + chunk.toString()).slice(-4000);
      done();
    },
  });
  docker.modem.demuxStream(stream, sink, sink);
  return { text: () => text, stop: () => (stream as unknown as Duplex).destroy() };
}

async function containerGone(docker: Docker, id: string, output: CapturedOutput): Promise<string | undefined> {
  try {
    const info = await docker.getContainer(id).inspect();
    if (info.State.Running) return undefined;
  } catch (error) {
    if (!isGoneOrGoing(error)) throw error;
  }
  return `its container exited: ${output.text().trim().split("\n").slice(-10).join("\n") || "no output"}`;
}

/**
 * Slices are chosen from the engine's labels, then checked again once our containers exist:
 * if a concurrent `up` took an overlapping slice, the container created later yields and
 * retries. No lock file, so two runners on different state directories are safe too.
 */
async function createWithFreeSlices(docker: Docker, agents: readonly AgentToCreate[], options: UpOptions, created: string[]): Promise<PortRange[]> {
  for (let attempt = 1; ; attempt++) {
    const others = await listFieldtestContainers(docker);
    const taken = others.map((c) => parseRange(c.Labels[AGENT_LABELS.portRange])).filter((r): r is PortRange => r !== undefined);
    const engine = options.engine ?? LOCAL_ENGINE;
    const slices = await allocateSlices(taken, agents.length, options.portsPerAgent, engine.portIsFree);
    options.progress.step(`creating ${agents.length} agent(s) in namespace ${options.namespace}`);
    const ids = await Promise.all(slices.map((slice, i) => createAgentContainer(docker, agents[i]!, options, engine, slice)));
    created.push(...ids);
    if (!(await lostSliceRace(docker, ids))) return slices;
    await removeContainers(docker, ids);
    created.length = 0;
    if (attempt === ALLOCATION_ATTEMPTS) throw new Error("could not reserve free port slices: other namespaces kept taking them; try again");
    options.signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, randomInt(20, 200)));
  }
}

async function lostSliceRace(docker: Docker, mine: readonly string[]): Promise<boolean> {
  const all = await listFieldtestContainers(docker);
  const mineSet = new Set(mine);
  const ranged = all.map((c) => ({ id: c.Id, range: parseRange(c.Labels[AGENT_LABELS.portRange]) }));
  const clashes = ranged.filter(
    (other) => !mineSet.has(other.id) && other.range && ranged.some((m) => mineSet.has(m.id) && m.range && overlaps(m.range, other.range!)),
  );
  if (clashes.length === 0) return false;
  // Created timestamps from inspect have nanoseconds: the older container keeps its slice.
  const createdAt = async (id: string) => sortableTimestamp((await docker.getContainer(id).inspect().catch(() => undefined))?.Created);
  const myOldest = (await Promise.all(mine.map(createdAt))).sort()[0] ?? "9999";
  const theirs = await Promise.all(clashes.map((c) => createdAt(c.id)));
  return theirs.some((when) => when < myOldest);
}

/**
 * Docker prints RFC 3339 times with trailing zeros of the fraction dropped ("…:20.12Z"), which
 * do not sort as strings; padding the fraction to nine digits makes them sort by time.
 */
export function sortableTimestamp(created: string | undefined): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(created ?? "");
  if (!match) return "9999";
  return `${match[1]}.${(match[2] ?? "").padEnd(9, "0")}Z`;
}

async function createAgentContainer(docker: Docker, agent: AgentToCreate, options: UpOptions, engine: Engine, slice: PortRange): Promise<string> {
  const { name } = agent;
  const hostKey = generateEd25519KeyPair(`fieldtest-${options.namespace}-${name}`);
  const expiresAt = expiryAfter(options.ttlSeconds);
  const labels = resourceLabels({ namespace: options.namespace, expiresAt, owner: options.owner });
  const container = await docker.createContainer({
    name: containerName(options.namespace, name),
    Image: agent.imageTag,
    Labels: {
      ...labels,
      [AGENT_LABELS.agent]: name,
      [AGENT_LABELS.target]: engine.target,
      [AGENT_LABELS.address]: engine.address,
      [AGENT_LABELS.sshPort]: String(slice[0]),
      [AGENT_LABELS.portRange]: formatRange(slice),
      [AGENT_LABELS.hostKey]: hostKey.publicKey,
      [AGENT_LABELS.createdAt]: new Date().toISOString(),
      [AGENT_LABELS.image]: agent.image,
      [AGENT_LABELS.group]: agent.group,
      ...(options.inboxDir ? { [AGENT_LABELS.inbox]: options.inboxDir } : {}),
    },
    Env: [
      `FIELDTEST_EXPIRES_AT=${labels[LABELS.expiresAt]}`,
      `FIELDTEST_SSH_PORT=${slice[0]}`,
      `FIELDTEST_LISTEN=${engine.listen}`,
    ],
    HostConfig: {
      NetworkMode: "host",
      // The container deletes itself when its main process ends at the TTL: no runner needed.
      AutoRemove: true,
      Init: true,
      ...agent.limits,
      ...(options.inboxDir ? { Binds: [`${options.inboxDir}:${AGENT_INBOX}:ro`] } : {}),
    },
  });
  await container.putArchive(await keysArchive(hostKey, options.clientKey.publicKey), { path: "/" });
  return container.id;
}

/** The agent's host key and the namespace's authorized key, placed before sshd first starts. */
function keysArchive(hostKey: SshKeyPair, authorizedKey: string): Promise<Buffer> {
  const archive = tarPack();
  archive.entry({ name: "etc/ssh/ssh_host_ed25519_key", mode: 0o600 }, hostKey.privateKey);
  archive.entry({ name: "etc/ssh/ssh_host_ed25519_key.pub", mode: 0o644 }, `${hostKey.publicKey}\n`);
  archive.entry({ name: "root/.ssh/authorized_keys", mode: 0o600 }, `${authorizedKey}\n`);
  archive.finalize();
  return buffer(archive);
}

export async function removeContainers(docker: Docker, ids: readonly string[]): Promise<void> {
  await Promise.all(
    ids.map((id) =>
      docker
        .getContainer(id)
        .remove({ force: true })
        .catch((error) => {
          if (!isGoneOrGoing(error)) throw error;
        }),
    ),
  );
}

/** Removes exactly the containers labelled with this namespace; returns what it removed. */
export async function destroyLocalhost(docker: Docker, namespace: Namespace, dryRun = false): Promise<LabelledContainer[]> {
  const containers = await namespaceContainers(docker, namespace);
  if (!dryRun) await removeContainers(docker, containers.map((c) => c.Id));
  return containers;
}

/** Removes every fieldtest container whose expiry label is in the past. */
export async function reapLocalhost(docker: Docker, now: Date, dryRun = false): Promise<LabelledContainer[]> {
  const expired = (await listFieldtestContainers(docker)).filter((c) => {
    const expiresAt = expiresAtFromLabels(c.Labels);
    return expiresAt !== undefined && expiresAt <= now;
  });
  if (!dryRun) await removeContainers(docker, expired.map((c) => c.Id));
  return expired;
}
