import { existsSync, realpathSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import type Docker from "dockerode";
import type { Inventory } from "../../core/inventory.ts";
import { LABELS, resourceLabels, type Namespace } from "../../core/namespace.ts";
import { ROLE_LABEL } from "../../core/labels.ts";
import type { Progress } from "../../core/progress.ts";
import { isGoneOrGoing } from "../../targets/docker-engine/docker.ts";
import { agentHardening } from "../../targets/docker-engine/hardening.ts";
import { ensureAgentImage } from "../../targets/docker-engine/image.ts";
import { networkName } from "../../targets/docker-engine/network.ts";
import { ensureReaper } from "../../targets/docker-engine/reaper.ts";

/** The agent image alias the orchestrator runs: it has `sh`, and node comes from the caller's machine. */
export const ORCHESTRATOR_IMAGE_ALIAS = "debian";
/** The run a detached runner container serves; with ROLE_LABEL=orchestrator it is never an agent. */
export const ORCHESTRATOR_RUN_LABEL = "fieldtest-run";
export const ORCHESTRATOR_ROLE = "orchestrator";
/** The port the run's website listens on inside the container; the host publishes it where `--website-host` says (loopback by default). */
export const ORCHESTRATOR_WEBSITE_PORT = 8080;

/** Variables of the caller's environment that describe the caller's machine, not the run. */
const HOST_ONLY_VARIABLES = new Set(["PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TMPDIR", "_"]);

/** The caller's environment that a detached runner elsewhere gets: what describes the run, not the caller's machine. */
export function runEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && !HOST_ONLY_VARIABLES.has(entry[0])));
}

export interface OrchestratorRequest {
  namespace: Namespace;
  runId: string;
  /** The agents' owner label, so the owner's engine reaper removes the orchestrator with them. */
  owner: string;
  expiresAt: Date;
  /** `own`: on the namespace's network, as agents are; `host`: on the host's network, as host-network agents are. */
  network: "own" | "host";
  /** The agent image (fieldtest-agent:debian), which has what the runner runs on besides node. */
  image: string;
  /** The runner's own node binary (process.execPath), mounted read-only. */
  nodePath: string;
  /** The runner's command line after node: fieldtest's bin and its arguments. */
  args: readonly string[];
  /** Where the runner's stdout and stderr go (the run directory's console.log). */
  consolePath: string;
  /** Mounted read-only at their own paths: fieldtest's package, the scenario's directory, files the arguments name. */
  readOnly: readonly string[];
  /** Mounted read-write at their own paths: the namespace's state directory, the run directory. */
  readWrite: readonly string[];
  /** The caller's working directory: relative arguments resolve there, as they did for the caller. */
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The caller's user and group, so that what the runner writes into mounted directories is the caller's. */
  user: string;
  /** Where the host publishes the run's website (`--website-host`, `--website-port`), when it has one. */
  website?: { host: string; port: number };
}

/** Where an orchestrator of a fleet goes on an engine: the agents' owner, the image, the agents' network mode. */
export interface OrchestratorPlace {
  owner: string;
  image: string;
  network: "own" | "host";
}

/**
 * Readies an engine of `inventory`'s fleet for its orchestrator: the owner's reaper is made sure
 * of, so the orchestrator is removed at the TTL as the agents are, and the image is built.
 */
export async function prepareOrchestrator(docker: Docker, inventory: Inventory, dockerfilesDir: string, progress: Progress): Promise<OrchestratorPlace> {
  const first = inventory.agents[0]!;
  const owner = first.labels[LABELS.owner] ?? "";
  await ensureReaper(docker, { owner, dockerfilesDir, progress });
  const image = await ensureAgentImage(docker, { dockerfilesDir, alias: ORCHESTRATOR_IMAGE_ALIAS }, progress);
  return { owner, image, network: first.labels.network === "own" ? "own" : "host" };
}

export function orchestratorName(namespace: Namespace, runId: string): string {
  return `fieldtest-${namespace}-run-${runId}`;
}

/**
 * The directories fieldtest needs to run from its package: the package itself, its
 * node_modules where that is a link elsewhere (a git worktree, `npm link`), and the
 * node_modules that holds the package when it is a dependency (its own dependencies are
 * hoisted beside it).
 */
export function packageMounts(packageRoot: string): string[] {
  const root = realpathSync(packageRoot);
  const mounts = [root];
  const ownModules = join(packageRoot, "node_modules");
  if (existsSync(ownModules)) mounts.push(realpathSync(ownModules));
  for (let dir = dirname(root); dir !== dirname(dir); dir = dirname(dir)) {
    if (basename(dir) === "node_modules") {
      mounts.push(dir);
      break;
    }
  }
  return mounts;
}

/** Paths with those inside another one of the list dropped: a nested bind adds nothing. */
function outermost(paths: readonly string[]): string[] {
  const unique = [...new Set(paths)];
  return unique.filter((path) => !unique.some((other) => other !== path && path.startsWith(other.endsWith(sep) ? other : other + sep)));
}

/**
 * The container a detached localhost run's runner lives in: the namespace's labels and expiry
 * like every agent (so `destroy`, `reap`, `extend` and the engine's reaper treat it like one),
 * on the namespace's network (it reaches the agents as an orchestrator VM of a cloud fleet
 * would), running the caller's node on fieldtest's package as mounted. It has no Docker socket:
 * the fleet it ends at the end of a run is ended through the agents' own SSH (src/runs/end-agents.ts),
 * and what outlives a crash goes at the TTL, by the agents' own timers and the engine's reaper.
 * It removes itself when the runner exits.
 */
export function orchestratorContainerOptions(request: OrchestratorRequest): Docker.ContainerCreateOptions {
  const name = orchestratorName(request.namespace, request.runId);
  const binds = [
    `${request.nodePath}:${request.nodePath}:ro`,
    ...outermost(request.readOnly).map((path) => `${path}:${path}:ro`),
    ...outermost(request.readWrite).map((path) => `${path}:${path}`),
  ];
  const env = Object.entries(runEnvironment(request.env)).map(([key, value]) => `${key}=${value}`);
  const website = request.website && `${ORCHESTRATOR_WEBSITE_PORT}/tcp`;
  return {
    name,
    Hostname: name.slice(0, 63),
    Image: request.image,
    User: request.user,
    WorkingDir: request.cwd,
    // The runner's output goes to the run directory's console, which attach follows through the fleet.
    Entrypoint: ["/bin/sh", "-c", 'exec "$0" "$@" >>"$FIELDTEST_CONSOLE" 2>&1', request.nodePath, ...request.args],
    Cmd: [],
    Env: [...env, `FIELDTEST_CONSOLE=${request.consolePath}`, "HOME=/tmp"],
    Labels: {
      ...resourceLabels({ namespace: request.namespace, expiresAt: request.expiresAt, owner: request.owner }),
      [ROLE_LABEL]: ORCHESTRATOR_ROLE,
      [ORCHESTRATOR_RUN_LABEL]: request.runId,
    },
    ...(website ? { ExposedPorts: { [website]: {} } } : {}),
    HostConfig: {
      ...agentHardening(),
      NetworkMode: request.network === "own" ? networkName(request.namespace) : "host",
      Binds: binds,
      ...(website && request.website && request.network === "own" ? { PortBindings: { [website]: [{ HostIp: request.website.host, HostPort: String(request.website.port) }] } } : {}),
      AutoRemove: true,
      Init: true,
    },
  };
}

/** Creates and starts the orchestrator; returns its container id. */
export async function startOrchestrator(docker: Docker, request: OrchestratorRequest): Promise<string> {
  const container = await docker.createContainer(orchestratorContainerOptions(request));
  try {
    await container.start();
  } catch (error) {
    await container.remove({ force: true }).catch(() => {});
    throw error;
  }
  return container.id;
}

/** Whether the orchestrator still runs; it removes itself when it ends. */
export async function orchestratorRunning(docker: Docker, id: string): Promise<boolean> {
  try {
    return (await docker.getContainer(id).inspect()).State.Running;
  } catch (error) {
    if (isGoneOrGoing(error)) return false;
    throw error;
  }
}
