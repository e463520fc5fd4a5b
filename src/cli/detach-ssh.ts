import { access as accessFile, constants, readFile } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import type { Inventory } from "../core/inventory.ts";
import { readOperatorKey, type SshHostsBackend } from "../backends/ssh-hosts.ts";
import { orchestratorName, orchestratorRunning, prepareOrchestrator, startOrchestrator } from "../localhost/orchestrator.ts";
import { newRunId } from "../observe/run-dir.ts";
import { buildOrchestratorBundle, CLI_BUNDLE, SCENARIO_BUNDLE } from "../orchestrator/bundle.ts";
import { hostHome, hostNamespaceDir, stageOnHost, writeOnHost, type StagedFile } from "../orchestrator/staging.ts";
import type { Progress } from "../progress.ts";
import { CONSOLE_FILE, STATUS_FILE } from "../runs/record.ts";
import { execOnConnection } from "../runtime/exec.ts";
import { quoteArg } from "../runtime/quote.ts";
import type { SshConnection } from "../runtime/ssh-connection.ts";
import { pinnedHostAccess } from "../ssh-hosts/fleet.ts";
import { formatSshHost } from "../ssh-hosts/host-spec.ts";
import { hostConnection, remoteDocker } from "../ssh-hosts/remote-engine.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";

/** node's variables that name files of this machine (`--import` hooks, module paths), which the host has not. */
const MACHINE_NODE_VARIABLES = ["NODE_OPTIONS", "NODE_PATH"];

function withoutEntries(env: NodeJS.ProcessEnv, names: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !names.includes(key)));
}

/** A file of this machine that an option of the command line names. */
export interface NamedFile {
  /** The option's long name, e.g. `--params`. */
  flag: string;
  path: string;
}

export interface SshDetachRequest {
  /** The runner's arguments after the CLI, with the scenario still as typed and without the options of `files`. */
  runnerArgs: readonly string[];
  scenario: string;
  scenarioPath: string;
  inventory: Inventory;
  /** The agents' key on this machine; it is copied to the host for the runner. */
  keyPath: string;
  /** Files the command line names (`--params`, `--website-tls-*`), absolute: staged on the host, and the runner is given their paths there. */
  files: readonly NamedFile[];
  /** The run serves its website (`--website`): it records where, for `fieldtest website`. */
  website: boolean;
}

/** A started orchestrator on the namespace's first host, and how to tell how it is doing from here. */
export interface SshOrchestrator {
  runId: string;
  /** The run directory on the host. */
  runDir: string;
  host: string;
  container: string;
  tracked(): Promise<boolean>;
  /** Why the runner is gone, or undefined while it runs. */
  ended(): Promise<string | undefined>;
  consoleTail(): Promise<string>;
  close(): void;
}

/**
 * Starts a detached run's runner in an orchestrator container on the namespace's first host,
 * through that host's Docker engine. The host gets no node_modules: the CLI and the scenario as
 * one bundle each, and this machine's node binary, in content-addressed directories of the
 * namespace's state there (`~/.fieldtest/namespaces/<ns>/orchestrator/<digest>/`), sent only
 * when not there yet; the files the command line names go in one of their own, and the runner
 * is given their paths there. The run directory is `~/.fieldtest/namespaces/<ns>/runs/<ns>/<run>`
 * on the host; `runs`, `attach`, `stop`, `fetch-run` and `website` use its mirror on the first
 * agent as ever.
 */
export async function startSshOrchestrator(context: CliContext, backend: SshHostsBackend, request: SshDetachRequest, progress: Progress): Promise<SshOrchestrator> {
  for (const { flag, path } of request.files) {
    await accessFile(path, constants.R_OK).catch((error: Error) => {
      throw new UsageError(`${flag} ${path} cannot be read (${error.message}): it is sent to the host for the detached run; fix the path`);
    });
  }
  const [access] = pinnedHostAccess(backend.record.hosts, await readOperatorKey(backend.record.operatorKeyPath));
  const host = formatSshHost(access!.host);
  const ssh = hostConnection(access!);
  const docker = remoteDocker(access!);
  try {
    const { namespace } = request.inventory;
    const nsDir = hostNamespaceDir(await hostHome(ssh, host), namespace);
    const stagingRoot = posix.join(nsDir, "orchestrator");
    const bundle = await buildOrchestratorBundle(context.packageRoot, request.scenarioPath);
    if (bundle.readsBesideItself) {
      progress.step(
        `notice: ${request.scenarioPath} names its own location (import.meta.url): files it reads beside itself at run time are not sent to ${host}, only its imports are bundled; import them (JSON is bundled) or pass values with --params`,
      );
    }
    const [code, node] = await (async () => {
      try {
        await execOnConnection(ssh, host, `mkdir -p -m 700 ${quoteArg(nsDir)} && mkdir -p ${quoteArg(stagingRoot)}`);
        const files = bundle.files.map((relative) => ({ relative, local: posix.join(bundle.dir, relative) }));
        return [await stageOnHost(ssh, host, stagingRoot, files), await stageOnHost(ssh, host, stagingRoot, [{ relative: "node", local: process.execPath }])];
      } finally {
        await bundle.remove();
      }
    })();
    progress.step(`${host}: fieldtest and the scenario staged in ${code.dir} (${code.sentBytes} bytes sent), node in ${node.dir} (${node.sentBytes} bytes sent)`);
    const named = await stageNamedFiles(ssh, host, stagingRoot, request.files);
    if (named) progress.step(`${host}: ${request.files.map((f) => f.flag).join(", ")} staged in ${named.dir} (${named.sentBytes} bytes sent)`);

    const runId = newRunId();
    const runsDir = posix.join(nsDir, "runs");
    const runDir = posix.join(runsDir, namespace, runId);
    const home = posix.join(nsDir, "home");
    const keyPath = posix.join(stagingRoot, "client_key");
    const inventoryPath = posix.join(runDir, "orchestrator-inventory.json");
    await execOnConnection(ssh, host, `mkdir -p -m 700 ${quoteArg(runDir)} ${quoteArg(home)}`);
    await writeOnHost(ssh, host, keyPath, await readFile(request.keyPath, "utf8"));
    await writeOnHost(ssh, host, inventoryPath, `${JSON.stringify(request.inventory, null, 2)}\n`);
    const user = (await execOnConnection(ssh, host, 'printf %s:%s "$(id -u)" "$(id -g)"')).stdout;

    const { owner, image, network } = await prepareOrchestrator(docker, request.inventory, join(context.packageRoot, "dockerfiles"), progress);
    // The scenario is the first operand after `run`.
    const scenarioAt = request.runnerArgs.indexOf(request.scenario, 1);
    const args = [posix.join(code.dir, CLI_BUNDLE), ...request.runnerArgs.map((arg, i) => (i === scenarioAt ? posix.join(code.dir, SCENARIO_BUNDLE) : arg)), ...(named?.args ?? []), ...websiteArgs(request, network)];
    const consolePath = posix.join(runDir, CONSOLE_FILE);
    const id = await startOrchestrator(docker, {
      namespace,
      runId,
      owner,
      expiresAt: new Date(request.inventory.expiresAt),
      network,
      image,
      nodePath: posix.join(node.dir, "node"),
      args: [...args, "--inventory", inventoryPath, "--ssh-key", keyPath, "--runs-dir", runsDir, "--run-id", runId],
      consolePath,
      readOnly: [code.dir, keyPath, ...(named ? [named.dir] : [])],
      readWrite: [runsDir, home],
      cwd: code.dir,
      env: { ...withoutEntries(context.env, MACHINE_NODE_VARIABLES), FIELDTEST_HOME: home },
      user,
    });
    const exists = async (path: string) => (await execOnConnection(ssh, host, `test -f ${quoteArg(path)}`, { allowFailure: true })).code === 0;
    return {
      runId,
      runDir,
      host,
      container: orchestratorName(namespace, runId),
      tracked: () => exists(posix.join(runDir, STATUS_FILE)),
      ended: async () => ((await orchestratorRunning(docker, id)) ? undefined : `the detached run's orchestrator on ${host} ended before the run started`),
      consoleTail: async () => (await execOnConnection(ssh, host, `tail -n 15 ${quoteArg(consolePath)}`, { allowFailure: true })).stdout,
      close: () => ssh.close(),
    };
  } catch (error) {
    ssh.close();
    throw error;
  }
}

/**
 * The command line's files in a content-addressed directory of their own on the host, owner-only
 * (a TLS key among them), and the options that name them there; undefined when there are none.
 * Each is `<n>-<name>`, so two files of one name from different directories stay apart.
 */
async function stageNamedFiles(ssh: SshConnection, host: string, stagingRoot: string, files: readonly NamedFile[]): Promise<{ dir: string; sentBytes: number; args: string[] } | undefined> {
  if (files.length === 0) return undefined;
  const staged: StagedFile[] = files.map((f, i) => ({ relative: `${i + 1}-${basename(f.path)}`, local: f.path, mode: 0o600 }));
  const { dir, sentBytes } = await stageOnHost(ssh, host, stagingRoot, staged);
  return { dir, sentBytes, args: files.flatMap((f, i) => [f.flag, posix.join(dir, staged[i]!.relative)]) };
}

/**
 * How the orchestrator's runner serves the website so that `fieldtest website` finds it: it
 * records the address in the run's status. On a namespace network it listens in the container
 * (--website-in-container); on the host's network, on the host's loopback, on a free port unless
 * one was asked for, since 8080 of a shared host may be taken.
 */
function websiteArgs(request: SshDetachRequest, network: "own" | "host"): string[] {
  if (!request.website) return [];
  if (network === "own") return ["--fleet-website", "--website-in-container"];
  const portGiven = request.runnerArgs.some((arg) => arg === "--website-port" || arg.startsWith("--website-port="));
  return ["--fleet-website", ...(portGiven ? [] : ["--website-port", "0"])];
}
