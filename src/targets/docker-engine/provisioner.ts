import { randomInt } from "node:crypto";
import { Writable, type Duplex } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import type Docker from "dockerode";
import type { Inventory } from "../../core/inventory.ts";
import { generateEd25519KeyPair, type SshKeyPair } from "../../transport/keys.ts";
import { belongsToNamespace, expiresAtFromLabels, expiryAfter, LABELS, labelValue, resourceLabels, type Namespace } from "../../core/namespace.ts";
import { agentName, cloudResourceName } from "../../core/naming.ts";
import { containerLimits, type Shape } from "../../core/shapes.ts";
import type { Progress } from "../../core/progress.ts";
import { isGoneOrGoing, isNotFound } from "./docker.ts";
import { agentHardening } from "./hardening.ts";
import { ensureFleetImages, type ImageCatalog } from "./image.ts";
import { removeExtensions, withEffectiveExpiry, writeExtendedExpiry } from "./extension.ts";
import { AGENT_INBOX, AGENT_LABELS, agentFromLabels, inventoryFromContainers, LOCALHOST_ADDRESS, type LabelledContainer } from "./labels.ts";
import { DEFAULT_NETWORK_MODE, ensureNamespaceNetwork, NETWORK_LABEL, networkConfig, reapNetworks, removeNamespaceNetwork, type AgentNetwork, type NetworkMode } from "./network.ts";
import { allocateSlices, formatRange, overlaps, parseRange, portIsFree, type PortRange } from "./ports.ts";
import { waitForSsh } from "./readiness.ts";
import { ensureReaperImage, startReaper } from "./reaper.ts";

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
  /** `own` (default): an address and network namespace per agent; `host`: the host's network (see network.ts). */
  network?: NetworkMode;
}

export class NamespaceInUseError extends Error {}

const ALLOCATION_ATTEMPTS = 6;

/**
 * `fieldtest-<ns>--<agent>`: the cloud resources' rule (src/core/naming.ts), so that namespace
 * `a` with group `b-node` and namespace `a-b` with group `node` do not both want
 * `fieldtest-a-b-node-001`. Nothing looks a container up by this name (selection is by labels):
 * containers named `fieldtest-<ns>-<agent>` by earlier versions are found all the same.
 */
export function agentContainerName(namespace: Namespace, agent: string): string {
  return `fieldtest-${cloudResourceName(namespace, agent)}`;
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
  return containers.length ? inventoryFromContainers(namespace, await withEffectiveExpiry(docker, containers)) : undefined;
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
 * Creates the groups' agents in parallel and returns their inventory once every one has
 * authenticated the client over SSH with its pinned host key (readiness.ts). On any failure or
 * abort, the agents created so far are removed.
 */
export async function upLocalhost(docker: Docker, options: UpOptions): Promise<Inventory> {
  const { namespace, progress } = options;
  // Both only read, so they overlap; the reaper's image after the fleet's, which it often is.
  const [existing, made] = await Promise.allSettled([
    namespaceContainers(docker, namespace),
    agentsToCreate(docker, options).then(async (agents) => ({ agents, reaperImage: await ensureReaperImage(docker, options.images.fieldtestDir, progress) })),
  ]);
  if (existing.status === "rejected") throw existing.reason;
  if (existing.value.length > 0) {
    throw new NamespaceInUseError(
      `namespace ${namespace} already has ${existing.value.length} agent(s); run against them with \`fieldtest run <scenario> --namespace ${namespace}\` or remove them with \`fieldtest destroy --namespace ${namespace}\``,
    );
  }
  if (made.status === "rejected") throw made.reason;
  const { agents, reaperImage } = made.value;
  // Before anything exists: agents the runner never starts are removed at their TTL all the same.
  await startReaper(docker, options.owner, reaperImage);
  options.signal?.throwIfAborted();

  /** Agent name → its container, of every container made so far (removed on failure). */
  const created = new Map<string, LabelledContainer>();
  /** Container id → its output, captured from its first line (stopped at the end). */
  const outputs = new Map<string, Promise<CapturedOutput>>();
  const began = Date.now();
  // Attached as soon as it exists, while the others are still created or checked.
  const attach = ({ Id: id }: LabelledContainer) => {
    const output = captureOutput(docker, id);
    // Awaited by the container's start; one removed before (a lost slice race) needs no output.
    output.catch(() => {});
    outputs.set(id, output);
  };
  // Each agent is waited for from its own start, so the first ones are ready while the last start.
  const start = async ({ Id: id, Labels: labels }: LabelledContainer) => {
    const output = await outputs.get(id)!;
    await docker.getContainer(id).start();
    const agent = agentFromLabels(labels);
    await waitForSsh(agent, options.clientKey.privateKey, {
      deadline: Date.now() + (options.readyTimeoutMs ?? 60_000),
      signal: options.signal,
      // The output ends when the container does: only then is the engine asked.
      gone: async () => (output.ended() ? containerGone(docker, id, output) : undefined),
    });
    progress.step(`${agent.name} ready at ${agent.host}:${agent.sshPort} (${((Date.now() - began) / 1000).toFixed(2)}s)`);
  };
  // Again once all exist: a reaper that saw nothing of its owner may have left just before they were created.
  const whenCreated = () => startReaper(docker, options.owner, reaperImage);
  try {
    await createAndStartAgents(docker, agents, options, created, { attach, start, whenCreated });
    // The labels the containers were made with: every one of them answered SSH just now.
    return inventoryFromContainers(namespace, [...created.values()]);
  } catch (error) {
    await removeContainers(docker, [...created.values()].map((c) => c.Id));
    if ((options.network ?? DEFAULT_NETWORK_MODE) === "own") await removeNamespaceNetwork(docker, namespace).catch(() => {});
    throw error;
  } finally {
    for (const output of outputs.values()) output.then((o) => o.stop(), () => {});
  }
}

interface StartSteps {
  /** Begins to capture the container's output, once it exists. */
  attach(container: LabelledContainer): void;
  /** Starts the container (its output captured) and waits until it answers SSH. */
  start(container: LabelledContainer): Promise<void>;
  /**
   * Runs once every container exists: a container that is never started has no TTL timer of its
   * own, so a reaper must be known to run after the last creation (alongside the starts).
   */
  whenCreated(): Promise<void>;
}

interface CapturedOutput {
  text(): string;
  /** Whether the stream ended: the container stopped (or the engine dropped the stream). */
  ended(): boolean;
  stop(): void;
}

/**
 * The agent's own output from its first line: an agent that dies during bring-up is
 * auto-removed, and its logs with it, so they are read live while it starts.
 */
async function captureOutput(docker: Docker, id: string): Promise<CapturedOutput> {
  const stream = await docker.getContainer(id).attach({ stream: true, stdout: true, stderr: true });
  let text = "";
  // Streaming decode: a multibyte character cut between two chunks stays one character.
  const decoder = new StringDecoder("utf8");
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text = (text + decoder.write(chunk)).slice(-4000);
      done();
    },
  });
  docker.modem.demuxStream(stream, sink, sink);
  let ended = false;
  stream.once("close", () => (ended = true));
  stream.once("end", () => (ended = true));
  return { text: () => text, ended: () => ended, stop: () => (stream as unknown as Duplex).destroy() };
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
 * Creates and starts the agents' containers in the network mode asked for, each started as soon
 * as it may be, as `docker run` would. On this machine's engine an own network needs no port
 * slices at all: every agent has 30000 and up to itself, so each agent starts once it exists. On
 * an SSH host, sshd is published on the host, and on the host network agents share its ports:
 * slices keep those disjoint, and a container starts once its slice is known to be ours.
 */
async function createAndStartAgents(docker: Docker, agents: readonly AgentToCreate[], options: UpOptions, created: Map<string, LabelledContainer>, steps: StartSteps): Promise<void> {
  const engine = options.engine ?? LOCAL_ENGINE;
  const mode = options.network ?? DEFAULT_NETWORK_MODE;
  const abandon = new AbortController();
  if (mode === "host") {
    const plan = (slice: PortRange) => networkConfig({ mode: "host", address: engine.address, listen: engine.listen, slice });
    const where = (slices: readonly PortRange[]) => `on ports ${slices.map(formatRange).join(", ")}`;
    return startEachWhenPlaced(await placeInFreeSlices(docker, agents, options, { created, steps, plan, where, abandoned: abandon.signal }), steps, abandon);
  }
  const labels = resourceLabels({ namespace: options.namespace, expiresAt: expiryAfter(options.ttlSeconds), owner: options.owner });
  const network = await ensureNamespaceNetwork(docker, options.namespace, labels);
  const ownPlan = (index: number, publish?: { address: string; hostPort: number }) =>
    networkConfig({ mode: "own", network, index, portsPerAgent: options.portsPerAgent, ...(publish ? { publish } : {}) });
  if (engine.target === "ssh") {
    const plan = (slice: PortRange, index: number) => ownPlan(index, { address: engine.address, hostPort: slice[0] });
    const where = (slices: readonly PortRange[]) => `on network ${network.name} (${network.subnet}), sshd published on ports ${slices.map((s) => s[0]).join(", ")}`;
    return startEachWhenPlaced(await placeInFreeSlices(docker, agents, options, { created, steps, plan, where, abandoned: abandon.signal }), steps, abandon);
  }
  options.progress.step(`creating and starting ${agents.length} agent(s) on network ${network.name} (${network.subnet})`);
  const creations = agents.map(async (agent, i) => {
    const container = await createAgentContainer(docker, agent, options, engine, ownPlan(i));
    created.set(agent.name, container);
    steps.attach(container);
    return container;
  });
  return startEachWhenPlaced(creations, steps, abandon);
}

/** Starts each container once its placement resolves, and runs the reaper's check once all have. */
async function startEachWhenPlaced(placements: ReadonlyArray<Promise<LabelledContainer>>, steps: StartSteps, abandon: AbortController): Promise<void> {
  const pending = [Promise.all(placements).then(steps.whenCreated), ...placements.map(async (placement) => steps.start(await placement))];
  try {
    await Promise.all(pending);
  } catch (error) {
    // Every placement settles first (none retries any more), so the caller removes all that
    // exist; the starts still under way then end with their containers.
    abandon.abort();
    for (const step of pending) step.catch(() => {});
    await Promise.allSettled(placements);
    throw error;
  }
}

interface SlicePlacing {
  /** Agent name → its container, of every container made so far (removed on failure). */
  created: Map<string, LabelledContainer>;
  steps: StartSteps;
  /** The agent's network settings on its slice; `index` is its place among the agents. */
  plan: (slice: PortRange, index: number) => AgentNetwork;
  /** Where agents on these slices are, for progress lines. */
  where: (slices: readonly PortRange[]) => string;
  /** The bring-up failed elsewhere: no container is made again. */
  abandoned: AbortSignal;
}

/**
 * Slices are chosen from the engine's labels, then each container's is checked again once it
 * exists: if a concurrent `up` took an overlapping slice, the container created later yields and
 * is made again on another slice. No lock file, so two runners on different state directories
 * are safe too. A container that loses is never started, so an older container's sshd never finds
 * its port taken; the others start as soon as their own check passes, while the rest are made.
 */
async function placeInFreeSlices(docker: Docker, agents: readonly AgentToCreate[], options: UpOptions, placing: SlicePlacing): Promise<Array<Promise<LabelledContainer>>> {
  const { created, steps, plan, abandoned } = placing;
  const engine = options.engine ?? LOCAL_ENGINE;
  const allocate = async (count: number) => allocateSlices(await takenSlices(docker), count, options.portsPerAgent, engine.portIsFree);
  const slices = await allocate(agents.length);
  options.progress.step(`creating and starting ${agents.length} agent(s) in namespace ${options.namespace} ${placing.where(slices)}`);
  const ours = new Set<string>();
  const listAfterNow = listsAfterNow(docker);
  const create = async (index: number, slice: PortRange) => {
    const container = await createAgentContainer(docker, agents[index]!, options, engine, plan(slice, index));
    ours.add(container.Id);
    created.set(agents[index]!.name, container);
    steps.attach(container);
    return container;
  };
  // Replacements are allocated and created one after the other, each seeing the ones before:
  // two chosen at once from the same list could overlap.
  let replacing: Promise<unknown> = Promise.resolve();
  const replace = (index: number) => {
    const replacement = replacing.then(async () => {
      abandoned.throwIfAborted();
      const [slice] = await allocate(1);
      options.progress.step(`${agents[index]!.name}: another namespace took its port slice at the same time; ${placing.where([slice!])} instead`);
      return create(index, slice!);
    });
    replacing = replacement.catch(() => {});
    return replacement;
  };
  return slices.map(async (slice, index) => {
    let container = await create(index, slice);
    for (let attempt = 1; ; attempt++) {
      if (!(await lostSliceRace(docker, container, await listAfterNow(), ours))) return container;
      await removeContainers(docker, [container.Id]);
      created.delete(agents[index]!.name);
      if (attempt === ALLOCATION_ATTEMPTS) throw new Error("could not reserve free port slices: other namespaces kept taking them; try again");
      options.signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, randomInt(20, 200)));
      container = await replace(index);
    }
  });
}

/** The host ports every fieldtest container on the engine holds. */
async function takenSlices(docker: Docker): Promise<PortRange[]> {
  return (await listFieldtestContainers(docker)).map(hostPortsOf).filter((r): r is PortRange => r !== undefined);
}

/**
 * Lists of the engine's fieldtest containers, each begun after it was asked for: a check sees
 * every container created before it asked. Those who ask while a list is under way share the
 * next one, so the checks take one list per wave of creations rather than one per container.
 */
function listsAfterNow(docker: Docker): () => Promise<LabelledContainer[]> {
  let running: Promise<unknown> = Promise.resolve();
  let next: Promise<LabelledContainer[]> | undefined;
  return () =>
    (next ??= running.then(() => {
      next = undefined;
      const list = listFieldtestContainers(docker);
      running = list.catch(() => {});
      return list;
    }));
}

/**
 * The host ports a container holds: its slice on the host network, only sshd's published port
 * in an own network on an SSH host, none in an own network on this machine.
 */
function hostPortsOf(container: LabelledContainer): PortRange | undefined {
  if (container.Labels[NETWORK_LABEL] !== "own") return parseRange(container.Labels[AGENT_LABELS.portRange]);
  if (container.Labels[AGENT_LABELS.target] !== "ssh") return undefined;
  const port = Number(container.Labels[AGENT_LABELS.sshPort]);
  return Number.isInteger(port) && port > 0 ? [port, port] : undefined;
}

/** Whether a container of another `up` (not in `ours`) holds host ports overlapping `mine`'s and was created first. */
async function lostSliceRace(docker: Docker, mine: LabelledContainer, all: readonly LabelledContainer[], ours: ReadonlySet<string>): Promise<boolean> {
  const range = hostPortsOf(mine);
  if (!range) return false;
  const rivals = all.filter((other) => {
    const theirs = ours.has(other.Id) ? undefined : hostPortsOf(other);
    return theirs !== undefined && overlaps(range, theirs);
  });
  if (rivals.length === 0) return false;
  // Each clash is decided on its own pair: the older container keeps its slice (created times
  // from inspect have nanoseconds; the id breaks a tie). Comparing with our oldest container
  // instead let both sides keep theirs when each had an older container elsewhere.
  const createdAt = async (id: string) => sortableTimestamp((await docker.getContainer(id).inspect().catch(() => undefined))?.Created);
  const ourTime = await createdAt(mine.Id);
  for (const rival of rivals) {
    const theirTime = await createdAt(rival.Id);
    if (theirTime < ourTime || (theirTime === ourTime && rival.Id < mine.Id)) return true;
  }
  // Older than every rival we see: a rival that saw us yields and is removed. One whose list was
  // taken before our creation had ended (its create began later but ended sooner) did not see us
  // and keeps its slice, so a rival still there after a while wins, and we yield: both keeping
  // one slice is what must never happen (CI saw it: one sshd answering for two agents).
  return !(await goneWithin(docker, rivals.map((rival) => rival.Id), RIVAL_YIELD_MS));
}

/** How long an older container waits for a younger rival to yield its slice. */
const RIVAL_YIELD_MS = 3000;

/** Whether every one of the containers is removed within `ms`. */
async function goneWithin(docker: Docker, ids: readonly string[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  const exists = async (id: string) => {
    try {
      await docker.getContainer(id).inspect();
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  };
  for (;;) {
    if (!(await Promise.all(ids.map(exists))).some(Boolean)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
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

async function createAgentContainer(docker: Docker, agent: AgentToCreate, options: UpOptions, engine: Engine, net: AgentNetwork): Promise<LabelledContainer> {
  const { name } = agent;
  const hostKey = generateEd25519KeyPair(`fieldtest-${options.namespace}-${name}`);
  const expiresAt = expiryAfter(options.ttlSeconds);
  const labels = resourceLabels({ namespace: options.namespace, expiresAt, owner: options.owner });
  const agentLabels: Record<string, string> = {
    ...labels,
    [AGENT_LABELS.agent]: name,
    [AGENT_LABELS.target]: engine.target,
    [AGENT_LABELS.address]: net.host,
    [AGENT_LABELS.internalAddress]: net.internalHost,
    [NETWORK_LABEL]: net.hostConfig.NetworkMode === "host" ? "host" : "own",
    [AGENT_LABELS.sshPort]: String(net.sshPort),
    [AGENT_LABELS.portRange]: formatRange(net.portRange),
    [AGENT_LABELS.hostKey]: hostKey.publicKey,
    [AGENT_LABELS.createdAt]: new Date().toISOString(),
    [AGENT_LABELS.image]: agent.image,
    [AGENT_LABELS.group]: agent.group,
    ...(options.inboxDir ? { [AGENT_LABELS.inbox]: options.inboxDir } : {}),
  };
  const container = await docker.createContainer({
    name: agentContainerName(options.namespace, name),
    Image: agent.imageTag,
    Labels: agentLabels,
    Env: [
      `FIELDTEST_EXPIRES_AT=${labels[LABELS.expiresAt]}`,
      `FIELDTEST_SSH_PORT=${net.listenPort}`,
      `FIELDTEST_LISTEN=${net.listen}`,
      ...agentKeysEnv(hostKey, options.clientKey.publicKey),
    ],
    ...(net.networkingConfig ? { NetworkingConfig: net.networkingConfig } : {}),
    HostConfig: {
      ...net.hostConfig,
      // A shape's memory replaces the default bound (and its swap with it); its CPUs are added.
      ...agentHardening({ extraCapabilities: net.hostConfig.CapAdd ?? [], ...(agent.limits ? { memoryBytes: agent.limits.Memory } : {}) }),
      ...(agent.limits ? { NanoCpus: agent.limits.NanoCpus } : {}),
      // The container deletes itself when its main process ends at the TTL: no runner needed.
      AutoRemove: true,
      Init: true,
      ...(options.inboxDir ? { Binds: [`${options.inboxDir}:${AGENT_INBOX}:ro`] } : {}),
    },
  });
  return { Id: container.id, Labels: agentLabels };
}

/**
 * The agent's host key and the namespace's authorized key, which its entrypoint writes before
 * sshd first starts (dockerfiles/agent/fieldtest-agent). In the container's configuration, not
 * copied in: one Engine API call per agent fewer. Whoever can read that configuration controls
 * the engine, and with it the container's files, already.
 */
export function agentKeysEnv(hostKey: SshKeyPair, authorizedKey: string): string[] {
  return [`FIELDTEST_HOST_KEY=${hostKey.privateKey}`, `FIELDTEST_HOST_PUBLIC_KEY=${hostKey.publicKey}`, `FIELDTEST_AUTHORIZED_KEY=${authorizedKey}`];
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
  if (!dryRun) {
    await removeContainers(docker, containers.map((c) => c.Id));
    // Docker 20.10 can keep a stale endpoint of a force-removed container ("active endpoints"):
    // the labelled network then stays for `reap`, and the agents are gone all the same.
    await removeNamespaceNetwork(docker, namespace).catch(() => {});
    await removeExtensions(docker, namespace);
  }
  return containers;
}

/** Which containers a `reap` may look at: all fieldtest ones, or one owner's. */
export interface ReapScope {
  owner?: string;
}

/** Removes every fieldtest container (of the scope) whose expiry, extended or not, is in the past. */
export async function reapLocalhost(docker: Docker, now: Date, dryRun = false, scope: ReapScope = {}): Promise<LabelledContainer[]> {
  const owner = scope.owner === undefined ? undefined : labelValue(scope.owner);
  const inScope = (await listFieldtestContainers(docker)).filter((c) => owner === undefined || c.Labels[LABELS.owner] === owner);
  const isExpired = (c: LabelledContainer) => {
    const expiresAt = expiresAtFromLabels(c.Labels);
    return expiresAt !== undefined && expiresAt <= now;
  };
  // Only a container whose label says it expired can have been extended past now.
  const expired = (await withEffectiveExpiry(docker, inScope.filter(isExpired))).filter(isExpired);
  if (!dryRun) await removeContainers(docker, expired.map((c) => c.Id));
  await reapNetworks(docker, now, dryRun);
  return expired;
}

/** Moves the expiry of every container of the namespace to `expiresAt`; returns them. */
export async function extendLocalhost(docker: Docker, namespace: Namespace, expiresAt: Date): Promise<LabelledContainer[]> {
  const containers = await namespaceContainers(docker, namespace);
  await Promise.all(
    containers.map((c) =>
      writeExtendedExpiry(docker, c.Id, expiresAt).catch((error) => {
        if (!isGoneOrGoing(error)) throw error;
      }),
    ),
  );
  return withEffectiveExpiry(docker, containers);
}
