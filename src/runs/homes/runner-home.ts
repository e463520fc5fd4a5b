import { access, constants, mkdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { readInventoryFile, runnerAgent, type Inventory } from "../../core/inventory.ts";
import type { Namespace } from "../../core/namespace.ts";
import { openNamespace, runnerHomeOfInventory } from "../../targets/registry.ts";
import type { RunnerHome } from "../../targets/target.ts";
import { newRunId } from "../../observe/run-dir.ts";
import { RunInputError, type RunContext } from "../context.ts";
import { CONSOLE_FILE, TRACKED_FILE } from "../record.ts";
import { parseRunSpec, type RunSpec, type Teardown } from "../spec.ts";

/**
 * Where a detached run's runner lives, behind one small interface: a home stages `run-spec.json`
 * (and every file it names, at paths the runner sees), starts `fieldtest runner <spec>` there,
 * and the started runner says how it is doing and can be stopped. One implementation per home:
 * a process of this machine (./local-process.ts), a container on a Docker engine, this
 * machine's or an SSH host's (./engine-home.ts), a process on the fleet's runner agent
 * (./agent-process.ts). The target's `RunnerHome` descriptor chooses, in `chooseRunnerHome`.
 */
export interface RunnerHomeDriver {
  /** Words for messages: where the runner lives. */
  readonly where: string;
  /** Puts the spec, and what it names, where the runner sees them; nothing runs yet. */
  stage(run: DetachedRun): Promise<StagedRunner>;
}

/** A run staged in its home, ready to start. */
export interface StagedRunner {
  runId: string;
  /** The run directory, as the home sees it (on another machine for remote homes). */
  runDir: string;
  /** run-spec.json, as the home sees it. */
  specPath: string;
  start(): Promise<StartedRunner>;
  /** Releases what staging holds open (an SSH connection) when the run will not start. */
  close(): void;
}

/** A runner that was started: how it is doing, and how to stop it. */
export interface StartedRunner {
  /** What says where it runs (`container`, `host`, `agent`, `pid`, `website`), for the caller's output. */
  details: Record<string, string | number>;
  /** A line for the caller's progress: where it runs and where its output goes. */
  describe: string;
  status(): Promise<RunnerStatus>;
  /** Ends the runner where it lives (a run that never got tracked, Ctrl+C while it starts). */
  stop(): Promise<void>;
  close(): void;
}

/** `starting`: not tracked yet; `tracked`: the runner tracks its run; `ended`: gone before that, with why and its console's tail. */
export type RunnerStatus = { state: "starting" } | { state: "tracked" } | { state: "ended"; why: string };

/** What a home is given to stage: the spec as this machine sees it, and the fleet when the runner is given one. */
export interface DetachedRun {
  /** Paths in it are this machine's (relative ones against `cwd`). */
  spec: RunSpec;
  runId: string;
  namespace: Namespace;
  /** The fleet, as this machine reaches it; a local process runs on the spec's fleet instead. */
  fleet?: { inventory: Inventory; keyPath: string; privateKey: string; teardown: Teardown };
  /** The scenario's file, absolute. */
  scenarioPath: string;
  /** `--website-port` was given: a remote runner otherwise takes a free port. */
  websitePortGiven: boolean;
}

/**
 * Where a runner lives, from the target's descriptor. A fleet given as an inventory file is
 * reached only through its agents: its runner agent hosts the runner if it has one, and no
 * engine can (only a namespace's record reaches one). `--prometheus` (whose server and Grafana
 * run on this machine) keeps the runner here, and says so.
 */
export function chooseRunnerHome(descriptor: RunnerHome, options: { inventoryFile?: Inventory; localObservation: boolean }): RunnerHome {
  let home = descriptor;
  if (options.inventoryFile) {
    const agent = runnerAgent(options.inventoryFile);
    if (agent) home = { home: "agent-process", agent };
    else if (home.home === "engine-container") home = { home: "local-process" };
  }
  if (!options.localObservation || home.home === "local-process") return home;
  const not = home.home === "agent-process" ? `on ${home.agent.name}` : "a runner container";
  return { home: "local-process", why: `--prometheus runs Prometheus on this machine: this detached run is a process here, not ${not}` };
}

/** The descriptor of a spec's fleet: its namespace's target's, an inventory file's, or this machine's engine for a fleet made for the run. */
export async function runnerHomeOfSpec(context: RunContext, spec: RunSpec): Promise<{ descriptor: RunnerHome; inventory?: Inventory }> {
  if (spec.fleet.kind === "localhost") return { descriptor: { home: "engine-container", engine: "this-machine" } };
  if (spec.fleet.kind === "inventory") {
    const inventory = await readInventoryFile(resolve(context.cwd, spec.fleet.path)).catch((error: Error) => {
      throw new RunInputError(error.message);
    });
    return { descriptor: runnerHomeOfInventory(inventory), inventory };
  }
  const opened = await openNamespace(context, spec.fleet.namespace);
  const descriptor = opened.runnerHome();
  // A cloud stack's home depends on its agents (has it a runner agent?).
  if (descriptor.home !== "local-process") return { descriptor };
  const inventory = await opened.inventory();
  return { descriptor: inventory ? opened.runnerHome(inventory) : descriptor, ...(inventory ? { inventory } : {}) };
}

/** Beside the spec in the run directory: the fleet a runner elsewhere is given, as it reaches it. */
export const RUNNER_INVENTORY_FILE = "runner-inventory.json";

/** The run id a detached run's parent chooses, and its directory on this machine, made so the runner's console has a place. */
export async function newLocalRunDir(runsDir: string, namespace: string, runId = newRunId()): Promise<{ runId: string; dir: string }> {
  const dir = join(runsDir, namespace, runId);
  // Owner-only, as the runner makes its run directories: they hold what the scenario printed.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { runId, dir };
}

/** A runner whose run directory is on this machine: tracked once it says so (its status is then on the mirror too). */
export async function localRunnerStatus(dir: string, ended: () => Promise<string | undefined>): Promise<RunnerStatus> {
  if (await stat(join(dir, TRACKED_FILE)).then(() => true, () => false)) return { state: "tracked" };
  const why = await ended();
  if (why === undefined) return { state: "starting" };
  const tail = (await readFile(join(dir, CONSOLE_FILE), "utf8").catch(() => "")).split("\n").slice(-15).join("\n");
  return { state: "ended", why: `${why}:\n${tail}` };
}

/** What the runner sees instead of this machine's paths; what is not given stays as it is. */
export interface RunnerView {
  runsDir: string;
  scenario?: string;
  /** The fleet at its staged inventory and key. */
  fleet?: { path: string; keyPath: string; teardown: Teardown };
  tls?: { certPath: string; keyPath: string };
  /** Where the website listens, as the home needs it (a container's port, a free port). */
  website?: { host?: string; port?: number; allowUnauthenticatedRemote?: boolean; reachedBy?: { published?: string } };
  /** Where status.json records that the fleet reaches the website. */
  fleetWebsite?: true | { via: string };
}

/** The spec the runner is given: this machine's paths replaced by the runner's, its run id and `detached` set. */
export function specSeenBy(spec: RunSpec, runId: string, view: RunnerView): RunSpec {
  const { website, ...observation } = spec.observation;
  const seenWebsite = website && {
    ...website,
    ...view.website,
    ...(website.tls ? { tls: view.tls ?? website.tls } : {}),
  };
  return parseRunSpec({
    ...spec,
    ...(view.scenario ? { scenario: view.scenario } : {}),
    ...(view.fleet ? { fleet: { kind: "inventory", path: view.fleet.path, keyPath: view.fleet.keyPath }, teardown: view.fleet.teardown } : {}),
    observation: {
      ...observation,
      runsDir: view.runsDir,
      runId,
      ...(seenWebsite ? { website: seenWebsite } : {}),
      ...(seenWebsite && view.fleetWebsite ? { fleetWebsite: view.fleetWebsite } : {}),
    },
    detached: true,
  }, "detached run spec");
}

/** The spec's paths made absolute against `cwd`, as a runner elsewhere in this machine's tree needs them. */
export function absoluteSpec(spec: RunSpec, cwd: string, scenarioPath: string): RunSpec {
  const tls = spec.observation.website?.tls;
  return {
    ...spec,
    scenario: scenarioPath,
    fleet: spec.fleet.kind === "localhost" ? spec.fleet : { ...spec.fleet, ...(spec.fleet.kind === "inventory" ? { path: resolve(cwd, spec.fleet.path) } : {}), ...(spec.fleet.keyPath ? { keyPath: resolve(cwd, spec.fleet.keyPath) } : {}) },
    observation: {
      ...spec.observation,
      runsDir: resolve(cwd, spec.observation.runsDir),
      ...(spec.observation.website && tls ? { website: { ...spec.observation.website, tls: { certPath: resolve(cwd, tls.certPath), keyPath: resolve(cwd, tls.keyPath) } } } : {}),
    },
  };
}

/** The TLS files the spec names, checked before anything is sent to `where`: an unreadable one is bad input. */
export async function checkSentFiles(spec: RunSpec, where: string): Promise<void> {
  const tls = spec.observation.website?.tls;
  const files = tls ? [["--website-tls-cert", tls.certPath], ["--website-tls-key", tls.keyPath]] : [];
  for (const [flag, path] of files) {
    await access(path!, constants.R_OK).catch((error: Error) => {
      throw new RunInputError(`${flag} ${path} cannot be read (${error.message}): it is sent to the ${where} for the detached run; fix the path`);
    });
  }
}
