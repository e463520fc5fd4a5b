import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type Docker from "dockerode";
import type { Inventory } from "../../src/core/inventory.ts";
import { generateEd25519KeyPair } from "../../src/transport/keys.ts";
import { assertDockerAvailable, createDocker } from "../../src/targets/docker-engine/docker.ts";
import { ensureAgentImage, type AgentImageSource } from "../../src/targets/docker-engine/image.ts";
import type { NetworkMode } from "../../src/targets/docker-engine/network.ts";
import { agentKeysEnv, destroyLocalhost, upLocalhost, type Engine } from "../../src/targets/docker-engine/provisioner.ts";
import { silentProgress, type Progress } from "../../src/core/progress.ts";
import { Cloud } from "../../src/runtime/cloud.ts";
import { NamespaceState } from "../../src/targets/state.ts";
import { OpenSsh } from "./openssh.ts";
import { rawDown, rawSlices, rawUp, type RawFleet, type RawOptions } from "./raw-docker.ts";
import { rawDownOwnNetwork, rawUpOwnNetwork, type RawNetworkFleet } from "./raw-network.ts";
import { upSshdFleet, type SshdFleet } from "./sshd-fleet.ts";
import type { Stats } from "./stats.ts";

export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

export interface MeasureResult {
  /** The measure (module) that produced this row: exec, fanout, … */
  measure: string;
  name: string;
  /** Unit of `fieldtest` and `baseline`; `better` says which direction wins. */
  unit: string;
  better: "lower" | "higher";
  fieldtest: Stats;
  baselineName: string;
  baseline: Stats;
  /** fieldtest median / baseline median, in `unit`. */
  ratio: number;
  goal: string | null;
  /** null when the row has no goal of its own. */
  met: boolean | null;
  note?: string;
}

export interface Measure {
  id: string;
  title: string;
  run(context: BenchContext): Promise<MeasureResult[]>;
}

export interface Sizes {
  /** Agents of the shared fleet that exec, fan-out, copy, logs and memory run on. */
  fleet: number;
  execRounds: number;
  execCalls: number;
  fanoutSizes: number[];
  fanoutRounds: number;
  bringupSizes: number[];
  bringupRounds: number;
  teardownAgents: number;
  teardownRounds: number;
  copyBytes: number;
  copyRounds: number;
  logLines: number;
  logRounds: number;
  memoryRounds: number;
  /** Broadcast: the file, the fleet sizes, and the runner's uplink in Mbit/s. */
  broadcastBytes: number;
  broadcastSizes: number[];
  broadcastMbit: number;
  /** Start-ups of the compiled CLI and of a bare node, alternating. */
  startupRounds: number;
  /** Scale: containers × sshd endpoints per container, each an agent (see sshd-fleet.ts). */
  scaleContainers: number;
  scalePerContainer: number;
  scaleFanoutRounds: number;
  /** Rounds of each parallel-ssh baseline: every round opens a connection per agent. */
  scaleBaselineRounds: number;
  scaleLinesPerDaemon: number;
  /** The file `cloud.copy` broadcasts, and to how many of the agents (see bench/measures/scale.ts). */
  scaleCopyBytes: number;
  scaleCopyAgents: number;
}

export const FULL: Sizes = {
  fleet: 50,
  execRounds: 5,
  execCalls: 200,
  fanoutSizes: [10, 50],
  fanoutRounds: 10,
  bringupSizes: [10, 50],
  bringupRounds: 3,
  teardownAgents: 10,
  teardownRounds: 5,
  copyBytes: 200_000_000,
  copyRounds: 3,
  logLines: 1_000_000,
  logRounds: 7,
  memoryRounds: 3,
  broadcastBytes: 200_000_000,
  broadcastSizes: [1, 10, 30],
  broadcastMbit: 100,
  startupRounds: 15,
  scaleContainers: 10,
  scalePerContainer: 100,
  scaleFanoutRounds: 5,
  scaleBaselineRounds: 1,
  scaleLinesPerDaemon: 1000,
  scaleCopyBytes: 10_000_000,
  scaleCopyAgents: 100,
};

export const SMOKE: Sizes = {
  fleet: 2,
  execRounds: 2,
  execCalls: 20,
  fanoutSizes: [2],
  fanoutRounds: 3,
  bringupSizes: [2],
  bringupRounds: 2,
  teardownAgents: 2,
  teardownRounds: 2,
  copyBytes: 5_000_000,
  copyRounds: 2,
  logLines: 20_000,
  logRounds: 2,
  memoryRounds: 2,
  broadcastBytes: 2_000_000,
  broadcastSizes: [1, 2],
  broadcastMbit: 100,
  startupRounds: 3,
  scaleContainers: 2,
  scalePerContainer: 5,
  scaleFanoutRounds: 2,
  scaleBaselineRounds: 1,
  // Enough lines that each streaming step outlasts a few of the website's pushes (250 ms apart),
  // so its SSE delays have samples: with 5,000, one daemon's 50,000 lines took about 70 ms.
  scaleLinesPerDaemon: 50_000,
  scaleCopyBytes: 1_000_000,
  scaleCopyAgents: 10,
};

// Bench agents expire on their own if the bench is killed before it cleans up; a measure that
// takes longer gives its fleet a TTL of its own (see measure-time.ts).
const TTL_SECONDS = 20 * 60;
// Slices are only as wide as the bench needs, to leave ports to other namespaces.
const PORTS_PER_AGENT = 10;

export interface Fleet {
  namespace: string;
  state: NamespaceState;
  inventory: Inventory;
  privateKey: string;
}

export interface SharedFleet extends Fleet {
  cloud: Cloud;
  ssh: OpenSsh;
}

/**
 * What the measures share: the Docker engine, a private temp directory (state home, keys,
 * files to copy), the shared fleet, and a record of every namespace the bench made so
 * `cleanup` removes exactly those, on success, failure or Ctrl+C.
 */
export class BenchContext {
  private readonly controller = new AbortController();
  private readonly namespaces = new Set<string>();
  private shared: Promise<SharedFleet> | undefined;
  private rawKeysEnv: string[] | undefined;
  private rawNamespace: string | undefined;
  readonly home: string;

  private constructor(
    readonly docker: Docker,
    readonly dir: string,
    readonly image: string,
    readonly imageSource: AgentImageSource,
    readonly sizes: Sizes,
    readonly progress: Progress,
  ) {
    this.home = join(dir, "home");
  }

  static async create(sizes: Sizes, progress: Progress): Promise<BenchContext> {
    const docker = createDocker();
    await assertDockerAvailable(docker);
    const imageSource = { dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" };
    const image = await ensureAgentImage(docker, imageSource, progress);
    const dir = await mkdtemp(join(tmpdir(), "fieldtest-bench-"));
    return new BenchContext(docker, dir, image, imageSource, sizes, progress);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(): void {
    this.controller.abort(new Error("interrupted"));
  }

  private newNamespace(): string {
    const namespace = `bench-${randomBytes(3).toString("hex")}`;
    this.namespaces.add(namespace);
    return namespace;
  }

  /**
   * Brings up `count` fieldtest agents in a fresh namespace, through the real provisioner (on
   * `engine`'s address, in `network` mode), living `ttlSeconds` (default 20 minutes).
   */
  async up(count: number, where: { engine?: Engine; network?: NetworkMode; ttlSeconds?: number } = {}): Promise<Fleet> {
    const { engine, network } = where;
    const namespace = this.newNamespace();
    const state = new NamespaceState(this.home, namespace);
    const clientKey = await state.clientKey();
    const inventory = await upLocalhost(this.docker, {
      namespace,
      groups: [{ name: "agent", count, image: this.imageSource.alias }],
      ttlSeconds: where.ttlSeconds ?? TTL_SECONDS,
      portsPerAgent: PORTS_PER_AGENT,
      owner: "bench",
      clientKey,
      images: { projectDirs: [], fieldtestDir: this.imageSource.dockerfilesDir },
      progress: silentProgress,
      signal: this.signal,
      ...(engine ? { engine } : { inboxDir: await state.inbox() }),
      ...(network ? { network } : {}),
    });
    await state.writeKnownHosts(inventory);
    return { namespace, state, inventory, privateKey: clientKey.privateKey };
  }

  async down(namespace: string): Promise<void> {
    await destroyLocalhost(this.docker, namespace);
    this.namespaces.delete(namespace);
  }

  /** Raw containers of the same image, in the bench's raw namespace; see raw-docker.ts. */
  async rawUp(count: number): Promise<RawFleet> {
    const slices = await rawSlices(this.docker, count, PORTS_PER_AGENT);
    return rawUp(this.docker, slices, this.rawOptions());
  }

  /** Raw containers on a bridge network of their own; see raw-network.ts. */
  async rawUpOwnNetwork(count: number): Promise<RawNetworkFleet> {
    return rawUpOwnNetwork(this.docker, count, this.rawOptions(), PORTS_PER_AGENT);
  }

  private rawOptions(): RawOptions {
    this.rawNamespace ??= this.newNamespace();
    // Made once, outside the timed rounds: fieldtest's key generation is part of its own work.
    this.rawKeysEnv ??= agentKeysEnv(generateEd25519KeyPair("bench-raw"), generateEd25519KeyPair("bench-raw-client").publicKey);
    // On failure, `cleanup` removes what was created: the raw namespace is recorded like any other.
    return { image: this.image, namespace: this.rawNamespace, keysEnv: this.rawKeysEnv, ttlSeconds: TTL_SECONDS };
  }

  /**
   * `containers` × `perContainer` sshd endpoints in a fresh namespace, one inventory for all
   * (see sshd-fleet.ts), with a client key of their own at `keyPath`; `cleanup` removes them.
   */
  async sshdFleet(containers: number, perContainer: number, ttlSeconds: number): Promise<SshdFleet & { privateKey: string; keyPath: string }> {
    const namespace = this.newNamespace();
    const key = generateEd25519KeyPair(`fieldtest-${namespace}`);
    const keyPath = join(this.dir, `${namespace}_ed25519`);
    await writeFile(keyPath, key.privateKey, { mode: 0o600 });
    const fleet = await upSshdFleet(this.docker, { image: this.image, namespace, owner: "bench", containers, perContainer, clientPublicKey: key.publicKey, ttlSeconds });
    return { ...fleet, privateKey: key.privateKey, keyPath };
  }

  rawDown(fleet: RawFleet): Promise<void> {
    return rawDown(this.docker, fleet);
  }

  /** The fleet the runtime measures share, connected, with an OpenSSH client for the baselines. */
  sharedFleet(): Promise<SharedFleet> {
    this.shared ??= (async () => {
      this.progress.step(`bringing up the shared fleet of ${this.sizes.fleet} agent(s)`);
      const fleet = await this.up(this.sizes.fleet);
      const cloud = await Cloud.connect(fleet.inventory, { privateKey: fleet.privateKey, logSink: () => {} });
      const ssh = new OpenSsh(fleet.state.clientKeyPath, fleet.state.knownHostsPath, this.dir);
      return { ...fleet, cloud, ssh };
    })();
    return this.shared;
  }

  rawDownOwnNetwork(fleet: RawNetworkFleet): Promise<void> {
    return rawDownOwnNetwork(this.docker, fleet);
  }

  /** Closes the shared fleet's connections and ControlMasters and removes its agents. */
  async releaseSharedFleet(): Promise<void> {
    const shared = this.shared;
    this.shared = undefined;
    if (!shared) return;
    const fleet = await shared.catch(() => undefined);
    if (!fleet) return;
    await fleet.cloud.close();
    await fleet.ssh.stopMasters();
    await this.down(fleet.namespace);
  }

  /** Removes everything the bench made: its namespaces' containers, ControlMasters, temp files. */
  async cleanup(): Promise<void> {
    await this.releaseSharedFleet().catch(() => {});
    for (const namespace of this.namespaces) await destroyLocalhost(this.docker, namespace).catch(() => {});
    this.namespaces.clear();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** For an immediate exit: the temp files at least; the containers expire with their TTL. */
  removeTempFilesNow(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
