import { spawn } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { access, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Option } from "commander";
import { orchestratorAgent, readInventoryFile, type Inventory } from "../core/inventory.ts";
import { openNamespace, runnerHomeOfInventory } from "../targets/registry.ts";
import type { RunnerHome } from "../targets/target.ts";
import { ORCHESTRATOR_WEBSITE_PORT, orchestratorName, orchestratorRunning, packageMounts, prepareOrchestrator, startOrchestrator } from "../runs/homes/engine-container.ts";
import { newRunId } from "../observe/run-dir.ts";
import { startAgentOrchestrator } from "../runs/homes/agent-process.ts";
import type { NamedFile } from "../runs/homes/remote-runner.ts";
import { CONSOLE_FILE, STATUS_FILE } from "../runs/record.ts";
import { quoteArg } from "../transport/quote.ts";
import { stateHome } from "../targets/state.ts";
import { UsageError, type CliContext } from "./context.ts";
import { startSshOrchestrator } from "./detach-ssh.ts";
import { destroyNamespace, liveInventory, namespaceState } from "./fleet.ts";
import type { Interrupt } from "./interrupt.ts";
import type { ObserveRequest } from "./observe-options.ts";
import { stderrProgress, writeJson } from "./output.ts";
import { acquireFleet, existingKey, planFleet } from "../runs/fleet-source.ts";
import { resolveSpecScenario as resolveRunScenario, specParams } from "../runs/session.ts";
import type { LongRunOptions } from "../runs/long-run.ts";
import { RUN_SPEC_FILE, writeRunSpec } from "../runs/spec.ts";
import { runContext, runSpec, type FleetSource } from "./run.ts";
import { scenarioParams, type ScenarioArguments } from "./scenario-options.ts";

/**
 * Options of `run` that say where the fleet comes from or how to make it: a detached localhost
 * run's parent settles them (it makes the fleet, if any), and the orchestrator is given the
 * resulting inventory instead.
 */
const FLEET_FLAGS = ["--detach", "--localhost", "--namespace", "--inventory", "--ssh-key", "--keep", "--vms", "--ttl", "--ports-per-agent", "--group", "--image", "--max-vms", "--max-cores", "--max-ram-gb", "--network", "--runs-dir", "--run-id"];

export interface DetachRequest {
  /** The command line as typed (after `fieldtest`); the runner's is derived from it. */
  argv: readonly string[];
  /** `run`'s options, to tell which ones take a value. */
  options: readonly Option[];
  scenario: string;
  source: FleetSource;
  scenarioArgs: ScenarioArguments;
  observe: ObserveRequest;
  /** Files the command line names that the runner reads (`--params`, `--website-tls-*`), as typed. */
  files: readonly NamedFile[];
  json: boolean;
  keepAlive: boolean | string;
  longRun: LongRunOptions;
}

/** The spec a runner on this machine (a process, a container of its engine) is given, in its run directory. */
async function stageSpec(context: CliContext, request: DetachRequest, dir: string, runId: string, changes: { source?: FleetSource; scenario?: string; observe?: Partial<ObserveRequest>; fleetWebsite?: boolean }): Promise<string> {
  const spec = await runSpec({
    scenario: changes.scenario ?? request.scenario,
    source: changes.source ?? request.source,
    scenarioArgs: request.scenarioArgs,
    keepAlive: request.keepAlive,
    json: false,
    observe: { ...request.observe, ...changes.observe },
    longRun: { ...request.longRun, runId, detached: true, ...(changes.fleetWebsite ? { fleetWebsite: true as const } : {}) },
  });
  const path = join(dir, RUN_SPEC_FILE);
  await writeRunSpec(path, spec);
  return path;
}

/** The command line less the options named, whether written `--flag value` or `--flag=value`. */
export function withoutOptions(argv: readonly string[], options: readonly Option[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const [flag, inline] = [arg.split("=")[0]!, arg.includes("=")];
    const option = options.find((o) => o.long === flag || o.short === flag);
    const takesValue = Boolean(option && (option.required || option.optional) && !inline);
    if (names.includes(option?.long ?? "")) {
      if (takesValue) i++;
      continue;
    }
    out.push(arg);
    if (takesValue && i + 1 < argv.length) out.push(argv[++i]!);
  }
  return out;
}

/**
 * `run --detach`. On localhost (a fleet made for the run, or a localhost namespace) the runner
 * is an orchestrator container of the namespace (src/localhost/orchestrator.ts), on an SSH-hosts
 * namespace one on its first host (./detach-ssh.ts), on an inventory file or a Pulumi stack with
 * an agent in group `orchestrator` a process of that agent; elsewhere, and for `--prometheus`
 * (whose server and Grafana run on this machine), a process of its own session here. Returns once the runner tracks the run (status.json), or fails with its output.
 */
export async function detachCommand(context: CliContext, request: DetachRequest, interrupt: Interrupt): Promise<void> {
  const { source } = request;
  const home = await chooseRunnerHome(context, request);
  if (home.kind === "container-on-host") return detachOnSshHost(context, request, home.source, home.home);
  if (home.kind === "process-on-agent") return detachOnAgent(context, request, home.source, home.inventory);
  if (home.kind === "local-process") {
    if (home.why) stderrProgress(context.stderr).step(home.why);
    return detachProcess(context, request, home.namespace);
  }
  const scenario = await resolveRunScenario(context, request.scenario);
  const made = source.kind === "localhost";
  let inventory: Inventory | undefined;
  if (source.kind === "localhost") {
    const spec = await runSpec({ scenario: request.scenario, source, scenarioArgs: request.scenarioArgs, keepAlive: false, json: request.json, observe: request.observe });
    const runs = runContext(context, request.json);
    if (spec.fleet.kind === "localhost") {
      const groups = planFleet(runs, spec.fleet, scenario, specParams(scenario, spec.params));
      inventory = (await acquireFleet(runs, spec.fleet, scenario, groups, interrupt.signal)).inventory;
    }
  } else if (source.kind === "namespace") {
    inventory = await liveInventory(context, source.namespace);
  }
  if (!inventory || inventory.agents.length === 0) throw new Error(`namespace ${source.kind === "namespace" ? source.namespace : "?"} has no running agents to run on`);
  const { namespace } = inventory;
  try {
    await startDetachedOrchestrator(context, request, scenario.path, inventory, made && !(source.kind === "localhost" && source.keep));
  } catch (error) {
    if (made) {
      stderrProgress(context.stderr).step(`tearing down namespace ${namespace}`);
      await destroyNamespace(context, namespace, false);
    }
    throw error;
  }
}

/**
 * Where a detached run's runner lives: a container on the SSH host's engine, a process on the
 * fleet's orchestrator agent, a container on this machine's engine, or a process here (`why`
 * says why, when another home was possible). The one place that asks which target the fleet is
 * on; the targets' descriptor of a runner's home replaces these checks.
 */
type RunnerChoice =
  | { kind: "container-on-host"; source: Extract<FleetSource, { kind: "namespace" }>; home: Extract<RunnerHome, { engine: "ssh-host" }> }
  | { kind: "process-on-agent"; source: Extract<FleetSource, { kind: "inventory" | "namespace" }>; inventory: Inventory }
  | { kind: "container-on-engine" }
  | { kind: "local-process"; namespace: string; why?: string };

async function chooseRunnerHome(context: CliContext, request: DetachRequest): Promise<RunnerChoice> {
  const { source } = request;
  const opened = source.kind === "namespace" ? await openNamespace(context, source.namespace) : undefined;
  const namespaceHome = opened?.runnerHome();
  if (source.kind === "namespace" && namespaceHome?.home === "engine-container" && namespaceHome.engine === "ssh-host" && !request.observe.prometheus) return { kind: "container-on-host", source, home: namespaceHome };
  const localhost = source.kind === "localhost" || (namespaceHome?.home === "engine-container" && namespaceHome.engine === "this-machine");
  // An inventory file or a cloud stack: its orchestrator agent runs the runner, if it has one.
  const fleet = source.kind === "inventory" ? await readInventoryFile(source.path) : source.kind === "namespace" && !localhost ? await liveInventory(context, source.namespace) : undefined;
  if (fleet && (source.kind === "inventory" || source.kind === "namespace") && orchestratorAgent(fleet) && !request.observe.prometheus) return { kind: "process-on-agent", source, inventory: fleet };
  if (localhost && !request.observe.prometheus) return { kind: "container-on-engine" };
  const namespace = source.kind === "localhost" ? source.request.namespace : source.kind === "namespace" ? source.namespace : fleet!.namespace;
  let why: string | undefined;
  if (localhost) why = "--prometheus runs Prometheus on this machine: this detached run is a process here, not an orchestrator container";
  else if (fleet && orchestratorAgent(fleet)) why = `--prometheus runs Prometheus on this machine: this detached run is a process here, not on ${orchestratorAgent(fleet)!.name}`;
  else {
    const home = opened ? opened.runnerHome(fleet) : fleet && runnerHomeOfInventory(fleet);
    if (home?.home === "local-process") why = home.why;
  }
  return { kind: "local-process", namespace, ...(why ? { why } : {}) };
}

async function startDetachedOrchestrator(context: CliContext, request: DetachRequest, scenarioPath: string | undefined, inventory: Inventory, endAgents: boolean): Promise<void> {
  const progress = stderrProgress(context.stderr);
  const { namespace } = inventory;
  const runsDir = request.observe.runsDir;
  const { runId, dir } = await newRunDir(runsDir, namespace);
  const inventoryPath = join(dir, "orchestrator-inventory.json");
  await writeFile(inventoryPath, `${JSON.stringify(inventory, null, 2)}\n`, { mode: 0o600 });
  const state = namespaceState(context, namespace);
  const keyPath = request.source.kind === "namespace" && request.source.keyPath ? resolve(context.cwd, request.source.keyPath) : state.clientKeyPath;
  const docker = context.docker();
  const { owner, image, network } = await prepareOrchestrator(docker, inventory, join(context.packageRoot, "dockerfiles"), progress);
  const website = request.observe.website;
  const published = website && network === "own" ? { host: website.host ?? "127.0.0.1", port: website.port ?? ORCHESTRATOR_WEBSITE_PORT } : undefined;
  // Inside the container the website listens on its port, which the host publishes on its loopback.
  const specPath = await stageSpec(context, request, dir, runId, {
    ...(scenarioPath ? { scenario: scenarioPath } : {}),
    source: { kind: "inventory", path: inventoryPath, keyPath, endAgents },
    observe: { runsDir, ...(published && website ? { website: { ...website, host: "0.0.0.0", port: ORCHESTRATOR_WEBSITE_PORT, allowUnauthenticatedRemote: true } } : {}) },
    fleetWebsite: website !== undefined,
  });
  const runnerArgs = [context.entry, "runner", specPath];
  const stateDirExists = await access(state.dir).then(() => true, () => false);
  const consolePath = join(dir, CONSOLE_FILE);
  const id = await startOrchestrator(docker, {
    namespace,
    runId,
    owner,
    expiresAt: new Date(inventory.expiresAt),
    network,
    image,
    nodePath: process.execPath,
    args: runnerArgs,
    consolePath,
    readOnly: [...packageMounts(context.packageRoot), ...(scenarioPath ? [dirname(scenarioPath)] : []), ...request.files.map((f) => resolve(context.cwd, f.path)), keyPath],
    readWrite: [...(stateDirExists ? [state.dir] : []), dir],
    cwd: context.cwd,
    env: { ...context.env, FIELDTEST_HOME: stateHome(context.env) },
    user: `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`,
    ...(published ? { website: published } : {}),
  });
  const name = orchestratorName(namespace, runId);
  progress.step(`detached run ${runId} in orchestrator container ${name}, output in ${consolePath}`);
  await untilTracked({ ...localRunner(dir), ended: async () => ((await orchestratorRunning(docker, id)) ? undefined : "the detached run's orchestrator ended before the run started") });
  const websiteUrl = website ? await publishedWebsite(docker, id, website, network) : undefined;
  if (request.json) return writeJson(context.stdout, { runId, namespace, runDir: dir, container: name, ...(websiteUrl ? { website: websiteUrl } : {}) });
  printStarted(context, runId, namespace, websiteUrl);
}

/** The run id a detached run's parent chooses, and its directory, made so the runner's console has a place. */
async function newRunDir(runsDir: string, namespace: string): Promise<{ runId: string; dir: string }> {
  const runId = newRunId();
  const dir = join(runsDir, namespace, runId);
  // Owner-only, as the runner makes its run directories: they hold what the scenario printed.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return { runId, dir };
}

/** How the parent tells that a detached runner tracks its run, has ended, and what it last printed. */
interface RunnerWatch {
  tracked(): Promise<boolean>;
  ended(): Promise<string | undefined>;
  consoleTail(): Promise<string>;
}

/** A runner whose run directory is on this machine. */
function localRunner(dir: string): Omit<RunnerWatch, "ended"> {
  return {
    tracked: () => stat(join(dir, STATUS_FILE)).then(() => true, () => false),
    consoleTail: async () => (await readFile(join(dir, CONSOLE_FILE), "utf8").catch(() => "")).split("\n").slice(-15).join("\n"),
  };
}

/** Waits for the runner's status.json; `ended` says why not when the runner is gone, and its console's tail follows. */
async function untilTracked(runner: RunnerWatch): Promise<void> {
  for (;;) {
    if (await runner.tracked()) return;
    const why = await runner.ended();
    if (why !== undefined) throw new Error(`${why}:\n${await runner.consoleTail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `run --detach` on an SSH-hosts namespace: the runner is an orchestrator container on its first host. */
async function detachOnSshHost(context: CliContext, request: DetachRequest, source: Extract<FleetSource, { kind: "namespace" }>, home: Extract<RunnerHome, { engine: "ssh-host" }>): Promise<void> {
  const progress = stderrProgress(context.stderr);
  const scenario = await resolveRunScenario(context, request.scenario);
  const inventory = await liveInventory(context, source.namespace);
  if (!inventory || inventory.agents.length === 0) throw new Error(`namespace ${source.namespace} has no running agents to run on`);
  if (!scenario.path) throw new Error(`scenario ${request.scenario} has no file to send to the host`);
  const files = await sentFiles(context, request, scenario, "host");
  const orchestrator = await startSshOrchestrator(context, home, {
    runnerArgs: runnerArgsWithoutFiles(request),
    scenario: request.scenario,
    scenarioPath: scenario.path,
    inventory,
    keyPath: source.keyPath ? resolve(context.cwd, source.keyPath) : namespaceState(context, source.namespace).clientKeyPath,
    files,
    website: request.observe.website !== undefined,
  }, progress);
  try {
    const { runId, runDir, host, container } = orchestrator;
    progress.step(`detached run ${runId} in orchestrator container ${container} on ${host}, output in ${runDir}/${CONSOLE_FILE} there`);
    await untilTracked(orchestrator);
    if (request.json) return writeJson(context.stdout, { runId, namespace: source.namespace, host, runDir, container });
    printStarted(context, runId, source.namespace);
  } finally {
    orchestrator.close();
  }
}

/**
 * `run --detach` on a fleet with an orchestrator agent (an inventory file, a cloud stack): the
 * runner is a process of that agent (src/runs/homes/agent-process.ts).
 */
async function detachOnAgent(context: CliContext, request: DetachRequest, source: Extract<FleetSource, { kind: "inventory" | "namespace" }>, inventory: Inventory): Promise<void> {
  const progress = stderrProgress(context.stderr);
  const scenario = await resolveRunScenario(context, request.scenario);
  if (!scenario.path) throw new UsageError(`scenario ${request.scenario} has no file to send to the orchestrator agent`);
  const files = await sentFiles(context, request, scenario, "orchestrator agent");
  const { privateKey } = await existingKey(context, inventory.namespace, source.keyPath && resolve(context.cwd, source.keyPath));
  const orchestrator = await startAgentOrchestrator(
    {
      packageRoot: context.packageRoot,
      env: context.env,
      runnerArgs: runnerArgsWithoutFiles(request),
      scenario: request.scenario,
      scenarioPath: scenario.path,
      inventory,
      privateKey,
      files,
      website: request.observe.website !== undefined,
    },
    progress,
  );
  try {
    const { runId, runDir, agent, pid } = orchestrator;
    progress.step(`detached run ${runId} on orchestrator agent ${agent} (pid ${pid}), output in ${runDir}/${CONSOLE_FILE} there`);
    await untilTracked(orchestrator);
    if (request.json) return writeJson(context.stdout, { runId, namespace: inventory.namespace, agent, pid, runDir });
    const fleet = source.kind === "inventory" ? `--inventory ${quoteArg(source.path)}${source.keyPath ? ` --ssh-key ${quoteArg(source.keyPath)}` : ""}` : undefined;
    printStarted(context, runId, inventory.namespace, undefined, fleet);
  } finally {
    orchestrator.close();
  }
}

/**
 * The files the command line names, absolute, checked before anything is sent to the `where`
 * that runs the detached run, as its parameters are: either is exit 2.
 */
async function sentFiles(context: CliContext, request: DetachRequest, scenario: Awaited<ReturnType<typeof resolveRunScenario>>, where: string): Promise<NamedFile[]> {
  await scenarioParams(scenario, request.scenarioArgs);
  const files = request.files.map((f) => ({ flag: f.flag, path: resolve(context.cwd, f.path) }));
  for (const { flag, path } of files) {
    await access(path, constants.R_OK).catch((error: Error) => {
      throw new UsageError(`${flag} ${path} cannot be read (${error.message}): it is sent to the ${where} for the detached run; fix the path`);
    });
  }
  return files;
}

/** The runner's arguments: the files' options come back with their paths where it runs. */
function runnerArgsWithoutFiles(request: DetachRequest): string[] {
  return withoutOptions(request.argv, request.options, [...FLEET_FLAGS, ...request.files.map((f) => f.flag)]);
}

/** `fleet`: the options that name the fleet to `attach` and `stop`. */
function printStarted(context: CliContext, runId: string, namespace: string, websiteUrl?: string, fleet = `--namespace ${namespace}`): void {
  const website = websiteUrl ? `  website:    ${websiteUrl}\n` : "";
  context.stdout.write(`run ${runId} started in namespace ${namespace}\n${website}  follow it:  fieldtest attach ${fleet}\n  stop it:    fieldtest stop ${fleet}\n`);
}

/**
 * Where this machine reaches the run's website: the port Docker published (it chose one for
 * --website-port 0); on the host's network, the runner's own port, which the console names
 * when it was chosen at random.
 */
async function publishedWebsite(docker: ReturnType<CliContext["docker"]>, id: string, website: NonNullable<ObserveRequest["website"]>, network: "own" | "host"): Promise<string | undefined> {
  const scheme = website.tls ? "https" : "http";
  const host = website.host ?? "127.0.0.1";
  if (network === "host") return website.port ? `${scheme}://${host}:${website.port}` : undefined;
  const ports = (await docker.getContainer(id).inspect()).NetworkSettings.Ports[`${ORCHESTRATOR_WEBSITE_PORT}/tcp`];
  return `${scheme}://${host}:${ports?.[0]?.HostPort ?? website.port}`;
}

/**
 * The detached runner as a process: `fieldtest runner` on the staged spec, in a session of its
 * own (setsid), whose output goes to the run directory's console.log.
 */
async function detachProcess(context: CliContext, request: DetachRequest, namespace: string): Promise<void> {
  const { runId, dir } = await newRunDir(request.observe.runsDir, namespace);
  const specPath = await stageSpec(context, request, dir, runId, {});
  const consolePath = join(dir, CONSOLE_FILE);
  const out = openSync(consolePath, "a");
  const child = spawn(process.execPath, [context.entry, "runner", specPath], { cwd: context.cwd, env: context.env, detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  const progress = stderrProgress(context.stderr);
  progress.step(`detached run ${runId} (pid ${child.pid}), output in ${consolePath}`);
  let exited: number | null | undefined;
  child.once("exit", (code) => (exited = code));
  await untilTracked({ ...localRunner(dir), ended: async () => (exited === undefined ? undefined : `the detached run ended before it started (exit ${exited})`) });
  if (request.json) return writeJson(context.stdout, { runId, namespace, runDir: dir, pid: child.pid });
  printStarted(context, runId, namespace);
}
