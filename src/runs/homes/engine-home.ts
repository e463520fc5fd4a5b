import { CLI_ENTRY } from "../../core/package-files.ts";
import { access, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type Docker from "dockerode";
import type { Inventory } from "../../core/inventory.ts";
import { namespaceState } from "../../targets/context.ts";
import { FIRST_AGENT_PORT } from "../../targets/docker-engine/ports.ts";
import { pinnedHostAccess } from "../../targets/ssh-hosts/fleet.ts";
import { formatSshHost } from "../../targets/ssh-hosts/host-spec.ts";
import { hostConnection, remoteDocker } from "../../targets/ssh-hosts/remote-engine.ts";
import { readOperatorKey } from "../../targets/ssh-hosts/target.ts";
import { stateHome } from "../../targets/state.ts";
import type { RunnerHome } from "../../targets/target.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { hostHome, hostNamespaceDir } from "../../transport/host-state.ts";
import type { SshConnection } from "../../transport/ssh-connection.ts";
import type { RunContext } from "../context.ts";
import { CONSOLE_FILE } from "../record.ts";
import { RUN_SPEC_FILE, writeRunSpec, type RunSpec, type Teardown } from "../spec.ts";
import { packageMounts, prepareRunnerContainer, scenarioProjectMounts, RUNNER_WEBSITE_PORT, runnerContainerName, runnerContainerRunning, startRunnerContainer, type RunnerContainerPlace, type RunnerContainerRequest } from "./engine-container.ts";
import { MACHINE_NODE_VARIABLES, remoteRunLayout, remoteRunnerArgs, stageNamedFiles, stageRunner, watchOverSsh, withoutEntries, writeRunnerInputs, type RemoteRunLayout, type StagedRunner } from "./remote-runner.ts";
import { absoluteSpec, checkSentFiles, localRunnerStatus, newLocalRunDir, RUNNER_INVENTORY_FILE, specSeenBy, type DetachedRun, type RunnerHomeDriver, type RunnerStatus, type RunnerView } from "./runner-home.ts";

type WebsiteOptions = NonNullable<RunSpec["observation"]["website"]>;

type EngineHome = Extract<RunnerHome, { home: "engine-container" }>;
type StagedFleet = NonNullable<DetachedRun["fleet"]>;

/** What an engine's staging gives the container: its command, mounts and environment, and how to watch it. */
interface ContainerStaging {
  runDir: string;
  specPath: string;
  container: Omit<RunnerContainerRequest, "namespace" | "runId" | "owner" | "expiresAt" | "network" | "image">;
  /** Whether the runner tracks its run, given why it ended if its container is gone. */
  status(ended: () => Promise<string | undefined>): Promise<RunnerStatus>;
  /** Words and fields that say where it runs, once its container id is known. */
  where(id: string): Promise<{ describe: string; details: Record<string, string | number> }>;
}

/** A Docker engine a runner container goes on, and how the run's files reach it. */
interface Engine {
  docker: Docker;
  /** ` on <host>`, or nothing on this machine. */
  on: string;
  stage(run: DetachedRun, fleet: StagedFleet, place: RunnerContainerPlace): Promise<ContainerStaging>;
  close(): void;
}

/**
 * The runner in a container on a Docker engine: this machine's (the package mounted read-only,
 * the run directory and the namespace's state read-write) or an SSH host's (the CLI and
 * scenario as bundles, and node, staged in the namespace's state there). Either way the
 * container carries the namespace's labels and expiry, so `destroy`, `reap` and the engine's
 * reaper treat it as an agent, and runs `fieldtest runner` on the staged spec.
 */
export function engineContainerHome(context: RunContext, home: EngineHome): RunnerHomeDriver {
  const where = home.engine === "this-machine" ? "runner container" : "runner container on the namespace's first host";
  return {
    where,
    async stage(run) {
      const fleet = run.fleet;
      if (!fleet) throw new Error(`a ${where} runs on a fleet given to it: run ${run.runId} has none`);
      const engine = home.engine === "this-machine" ? thisMachine(context) : await sshHost(context, home);
      try {
        const place = await prepareRunnerContainer(engine.docker, fleet.inventory, join(context.packageRoot, "dockerfiles"), context.progress);
        const staging = await engine.stage(run, fleet, place);
        return {
          runId: run.runId,
          runDir: staging.runDir,
          specPath: staging.specPath,
          close: () => engine.close(),
          async start() {
            const id = await startRunnerContainer(engine.docker, {
              ...staging.container,
              namespace: run.namespace,
              runId: run.runId,
              owner: place.owner,
              expiresAt: new Date(fleet.inventory.expiresAt),
              network: place.network,
              image: place.image,
            });
            const ended = async () => ((await runnerContainerRunning(engine.docker, id)) ? undefined : `the detached run's runner container${engine.on} ended before the run started`);
            return {
              ...(await staging.where(id)),
              status: () => staging.status(ended),
              stop: async () => {
                await engine.docker.getContainer(id).remove({ force: true }).catch(() => {});
              },
              close: () => engine.close(),
            };
          },
        };
      } catch (error) {
        engine.close();
        throw error;
      }
    },
  };
}

/** This machine's engine: the runner sees this machine's paths through its mounts. */
function thisMachine(context: RunContext): Engine {
  const docker = context.docker();
  return {
    docker,
    on: "",
    close: () => {},
    async stage(run, fleet, place) {
      const { spec, view } = thisMachineSpec(run, fleet, context.cwd, place.network);
      await checkSentFiles(spec, "runner container");
      const { dir } = await newLocalRunDir(spec.observation.runsDir, run.namespace, run.runId);
      await writeFile(view.fleet!.path, `${JSON.stringify(fleet.inventory, null, 2)}\n`, { mode: 0o600 });
      const specPath = join(dir, RUN_SPEC_FILE);
      await writeRunSpec(specPath, spec);
      const stateDir = namespaceState(context, run.namespace).dir;
      const stateDirExists = await access(stateDir).then(() => true, () => false);
      const website = run.spec.observation.website;
      const published = website && place.network === "own" ? publishedSocket(website) : undefined;
      const consolePath = join(dir, CONSOLE_FILE);
      return {
        runDir: dir,
        specPath,
        container: {
          nodePath: process.execPath,
          args: [CLI_ENTRY, "runner", specPath],
          consolePath,
          readOnly: thisMachineReadOnly(context.packageRoot, spec),
          readWrite: [...(stateDirExists ? [stateDir] : []), dir],
          cwd: context.cwd,
          env: { ...context.env, FIELDTEST_HOME: stateHome(context.env) },
          user: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
          ...(published ? { website: published } : {}),
        },
        status: (ended) => localRunnerStatus(dir, ended),
        async where(id) {
          const name = runnerContainerName(run.namespace, run.runId);
          const url = website ? await publishedWebsite(docker, id, website, place.network) : undefined;
          return { describe: `detached run ${run.runId} in runner container ${name}, output in ${consolePath}`, details: { container: name, ...(url ? { website: url } : {}) } };
        },
      };
    },
  };
}

/**
 * The spec of a runner container on this machine's engine: this machine's paths, absolute (they
 * are mounted at their own paths), the fleet at its inventory in the run directory. On the
 * namespace's network the website listens on the container's port, which the host publishes.
 */
export function thisMachineSpec(run: DetachedRun, fleet: StagedFleet, cwd: string, network: "own" | "host"): { spec: RunSpec; view: RunnerView } {
  const spec = absoluteSpec(run.spec, cwd, run.scenarioPath);
  const dir = join(spec.observation.runsDir, run.namespace, run.runId);
  const view: RunnerView = {
    runsDir: spec.observation.runsDir,
    scenario: run.scenarioPath,
    fleet: { path: join(dir, RUNNER_INVENTORY_FILE), keyPath: fleet.keyPath, teardown: fleet.teardown },
    ...(network === "own" ? { website: { host: "0.0.0.0", port: RUNNER_WEBSITE_PORT, allowUnauthenticatedRemote: true, reachedBy: publishedAddress(spec.observation.website) } } : {}),
    fleetWebsite: true,
  };
  return { spec: specSeenBy(spec, run.runId, view), view };
}

/**
 * What the runner prints for its website: the address this machine publishes the container's port
 * on, when it is known before Docker picks one (not for --website-port 0).
 */
function publishedAddress(website: RunSpec["observation"]["website"]): { published?: string } {
  if (!website) return {};
  const { host, port } = publishedSocket(website);
  return port === 0 ? {} : { published: websiteUrl(website, host, port) };
}

/** The host and port this machine publishes the runner container's website on: those asked for, or the defaults. */
function publishedSocket(website: WebsiteOptions): { host: string; port: number } {
  return { host: website.host ?? "127.0.0.1", port: website.port ?? RUNNER_WEBSITE_PORT };
}

function websiteUrl(website: WebsiteOptions, host: string, port: number | string): string {
  return `${website.tls ? "https" : "http"}://${host}:${port}`;
}

/** What a runner container on this machine reads: fieldtest's package, the scenario's directory and its project (package.json, node_modules), the TLS files, the agents' key. */
export function thisMachineReadOnly(packageRoot: string, spec: RunSpec): string[] {
  const tls = spec.observation.website?.tls;
  const key = spec.fleet.kind === "localhost" ? [] : spec.fleet.keyPath ? [spec.fleet.keyPath] : [];
  return [...packageMounts(packageRoot), dirname(spec.scenario), ...scenarioProjectMounts(spec.scenario), ...(tls ? [tls.certPath, tls.keyPath] : []), ...key];
}

/**
 * Where this machine reaches the run's website: the port Docker published (it chose one for
 * --website-port 0); on the host's network, the runner's own port, which the console names
 * when it was chosen at random.
 */
async function publishedWebsite(docker: Docker, id: string, website: WebsiteOptions, network: "own" | "host"): Promise<string | undefined> {
  const { host } = publishedSocket(website);
  if (network === "host") return website.port ? websiteUrl(website, host, website.port) : undefined;
  const ports = (await docker.getContainer(id).inspect()).NetworkSettings.Ports[`${RUNNER_WEBSITE_PORT}/tcp`];
  return websiteUrl(website, host, ports?.[0]?.HostPort ?? publishedSocket(website).port);
}

/**
 * The first host of an SSH-hosts namespace, through its engine. The host gets no node_modules:
 * the CLI and the scenario as one bundle each, and this machine's node binary, in
 * content-addressed directories of the namespace's state there, sent only when not there yet;
 * the TLS files go in one of their own. The run directory is
 * `~/.fieldtest/namespaces/<ns>/runs/<ns>/<run>` on the host; `runs`, `attach`, `stop`,
 * `fetch-run` and `website` use its mirror on the first agent as ever.
 */
async function sshHost(context: RunContext, home: Extract<EngineHome, { engine: "ssh-host" }>): Promise<Engine> {
  const [access] = pinnedHostAccess(home.hosts, await readOperatorKey(home.operatorKeyPath));
  const host = formatSshHost(access!.host);
  const ssh = hostConnection(access!);
  return {
    docker: remoteDocker(access!),
    on: ` on ${host}`,
    close: () => ssh.close(),
    stage: (run, fleet, place) => stageOnSshHost(context, ssh, host, run, fleet, place),
  };
}

async function stageOnSshHost(context: RunContext, ssh: SshConnection, host: string, run: DetachedRun, fleet: StagedFleet, place: RunnerContainerPlace): Promise<ContainerStaging> {
  await checkSentFiles(absoluteSpec(run.spec, context.cwd, run.scenarioPath), "host");
  const nsDir = hostNamespaceDir(await hostHome(ssh, host), run.namespace);
  const code = await stageRunner(ssh, host, context.packageRoot, run.scenarioPath, nsDir, context.progress);
  const tls = await stageTlsFiles(ssh, host, nsDir, run, context);
  const layout = remoteRunLayout(nsDir, run.namespace, run.runId);
  const spec = sshHostSpec(run, layout, code, { teardown: fleet.teardown, network: place.network, ...(tls ? { tls: tls.view } : {}) });
  const user = (await execOnConnection(ssh, host, 'printf %s:%s "$(id -u)" "$(id -g)"')).stdout;
  await writeRunnerInputs(ssh, host, layout, fleet.privateKey, place.network === "own" ? onFirstHostsNetwork(fleet.inventory) : fleet.inventory, spec);
  const watch = watchOverSsh(ssh, host, layout);
  return {
    runDir: layout.runDir,
    specPath: layout.specPath,
    container: {
      nodePath: code.nodePath,
      args: remoteRunnerArgs(code.codeDir, layout),
      consolePath: layout.consolePath,
      readOnly: [code.codeDir, layout.keyPath, ...(tls ? [tls.dir] : [])],
      readWrite: [layout.runsDir, layout.home],
      cwd: code.codeDir,
      env: { ...withoutEntries(context.env, MACHINE_NODE_VARIABLES), FIELDTEST_HOME: layout.home },
      user,
    },
    status: (ended) => remoteStatus(watch, ended),
    where: async () => {
      const container = runnerContainerName(run.namespace, run.runId);
      return { describe: `detached run ${run.runId} in runner container ${container} on ${host}, output in ${layout.consolePath} there`, details: { host, container } };
    },
  };
}

/** The spec of a runner container on an SSH host: everything in the namespace's state there, which the container mounts. */
export function sshHostSpec(run: DetachedRun, layout: RemoteRunLayout, code: Pick<StagedRunner, "scenarioPath">, on: { teardown: Teardown; network: "own" | "host"; tls?: { certPath: string; keyPath: string } }): RunSpec {
  return specSeenBy(run.spec, run.runId, {
    runsDir: layout.runsDir,
    scenario: code.scenarioPath,
    fleet: { path: layout.inventoryPath, keyPath: layout.keyPath, teardown: on.teardown },
    ...(on.tls ? { tls: on.tls } : {}),
    website: remoteWebsite(run, on.network),
    fleetWebsite: true,
  });
}

/** The spec's TLS files staged on the remote machine, and the spec's view of them. */
export async function stageTlsFiles(ssh: SshConnection, label: string, nsDir: string, run: DetachedRun, context: Pick<RunContext, "cwd" | "progress">): Promise<{ dir: string; view: { certPath: string; keyPath: string } } | undefined> {
  const tls = absoluteSpec(run.spec, context.cwd, run.scenarioPath).observation.website?.tls;
  if (!tls) return undefined;
  const staged = await stageNamedFiles(ssh, label, nsDir, [{ flag: "--website-tls-cert", path: tls.certPath }, { flag: "--website-tls-key", path: tls.keyPath }], context.progress);
  return { dir: staged!.dir, view: { certPath: staged!.paths[0]!, keyPath: staged!.paths[1]! } };
}

/**
 * How a runner container on a host serves the website so that `fieldtest website` finds it (it
 * records the address in the run's status): on a namespace network it listens in the container;
 * on the host's network, on the host's loopback, on a free port unless one was asked for, since
 * 8080 of a shared host may be taken.
 */
function remoteWebsite(run: DetachedRun, network: "own" | "host"): RunnerView["website"] {
  if (network === "own") return { host: "0.0.0.0", port: RUNNER_WEBSITE_PORT, allowUnauthenticatedRemote: true };
  return run.websitePortGiven ? {} : { port: 0 };
}

/** A remote runner's status over SSH: tracked once its first status is there and on the mirror, ended with its console's tail. */
export async function remoteStatus(watch: ReturnType<typeof watchOverSsh>, ended: () => Promise<string | undefined>): Promise<RunnerStatus> {
  if (await watch.tracked()) return { state: "tracked" };
  const why = await ended();
  return why === undefined ? { state: "starting" } : { state: "ended", why: `${why}:\n${await watch.consoleTail()}` };
}

/**
 * The fleet as the runner container sees it from the namespace's network on the first host: the
 * agents of that host at their addresses on it, sshd on its own port there. Their published
 * ports are on the host's address, which from inside a container may not lead back to the host
 * (a host given as 127.0.0.1 is the container itself). Agents of other hosts keep theirs.
 */
function onFirstHostsNetwork(inventory: Inventory): Inventory {
  const firstHost = inventory.agents[0]?.host;
  return {
    ...inventory,
    agents: inventory.agents.map((agent) => (agent.host === firstHost && agent.internalHost ? { ...agent, host: agent.internalHost, sshPort: FIRST_AGENT_PORT } : agent)),
  };
}
