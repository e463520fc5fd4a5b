import { basename, posix } from "node:path";
import type { Inventory } from "../../core/inventory.ts";
import type { Progress } from "../../core/progress.ts";
import { CONSOLE_FILE, STATUS_FILE } from "../record.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { quoteArg } from "../../transport/quote.ts";
import type { SshConnection } from "../../transport/ssh-connection.ts";
import { buildOrchestratorBundle, CLI_BUNDLE, SCENARIO_BUNDLE } from "./runner-bundle.ts";
import { stageOnHost, writeOnHost, type StagedFile } from "./staging.ts";

/**
 * What a detached runner on another machine (an SSH host's orchestrator container, a fleet's
 * orchestrator agent) is given there: the staged CLI, scenario and node, a run directory, the
 * agents' key and inventory, all in the namespace's state on that machine.
 */

/** node's variables that name files of this machine (`--import` hooks, module paths), which the host has not. */
export const MACHINE_NODE_VARIABLES = ["NODE_OPTIONS", "NODE_PATH"];

/** Where the namespace's staged files (bundles, node, the command line's files, the key) are on the remote machine. */
function stagingRoot(nsDir: string): string {
  return posix.join(nsDir, "orchestrator");
}

export function withoutEntries(env: NodeJS.ProcessEnv, names: readonly string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !names.includes(key)));
}

export interface StagedRunner {
  /** The directory of the CLI's and the scenario's bundles. */
  codeDir: string;
  /** The node binary. */
  nodePath: string;
}

/**
 * Bundles fieldtest and the scenario and sends them, with this machine's node binary, to
 * content-addressed directories under `<nsDir>/orchestrator/` (nothing is sent that is there).
 */
export async function stageRunner(ssh: SshConnection, label: string, packageRoot: string, scenarioPath: string, nsDir: string, progress: Progress): Promise<StagedRunner> {
  const root = stagingRoot(nsDir);
  const bundle = await buildOrchestratorBundle(packageRoot, scenarioPath);
  if (bundle.readsBesideItself) {
    progress.step(
      `notice: ${scenarioPath} names its own location (import.meta.url): files it reads beside itself at run time are not sent to ${label}, only its imports are bundled; import them (JSON is bundled) or pass values with --params`,
    );
  }
  const [code, node] = await (async () => {
    try {
      await execOnConnection(ssh, label, `mkdir -p -m 700 ${quoteArg(nsDir)} && mkdir -p ${quoteArg(root)}`);
      const files = bundle.files.map((relative) => ({ relative, local: posix.join(bundle.dir, relative) }));
      return [await stageOnHost(ssh, label, root, files), await stageOnHost(ssh, label, root, [{ relative: "node", local: process.execPath }])];
    } finally {
      await bundle.remove();
    }
  })();
  progress.step(`${label}: fieldtest and the scenario staged in ${code.dir} (${code.sentBytes} bytes sent), node in ${node.dir} (${node.sentBytes} bytes sent)`);
  return { codeDir: code.dir, nodePath: posix.join(node.dir, "node") };
}

/** A file of this machine that an option of the command line names. */
export interface NamedFile {
  /** The option's long name, e.g. `--params`. */
  flag: string;
  path: string;
}

/**
 * The command line's files in a content-addressed directory of their own under
 * `<nsDir>/orchestrator/`, owner-only (a TLS key among them), and the options that name them
 * there; undefined when there are none. Each is `<n>-<name>`, so two files of one name from
 * different directories stay apart.
 */
export async function stageNamedFiles(ssh: SshConnection, label: string, nsDir: string, files: readonly NamedFile[], progress: Progress): Promise<{ dir: string; args: string[] } | undefined> {
  if (files.length === 0) return undefined;
  const staged: StagedFile[] = files.map((f, i) => ({ relative: `${i + 1}-${basename(f.path)}`, local: f.path, mode: 0o600 }));
  const { dir, sentBytes } = await stageOnHost(ssh, label, stagingRoot(nsDir), staged);
  progress.step(`${label}: ${files.map((f) => f.flag).join(", ")} staged in ${dir} (${sentBytes} bytes sent)`);
  return { dir, args: files.flatMap((f, i) => [f.flag, posix.join(dir, staged[i]!.relative)]) };
}

/** A runner started on another machine, and how to tell from here how it is doing. */
export interface RemoteRunner {
  runId: string;
  /** The run directory on that machine. */
  runDir: string;
  /** Whether the runner tracks its run (its status.json is there). */
  tracked(): Promise<boolean>;
  /** Why the runner is gone, or undefined while it runs. */
  ended(): Promise<string | undefined>;
  consoleTail(): Promise<string>;
  close(): void;
}

/** How the parent tells, over the machine's SSH, that the runner tracks its run, and what it last printed. */
export function watchOverSsh(ssh: SshConnection, label: string, layout: RemoteRunLayout): Pick<RemoteRunner, "tracked" | "consoleTail"> {
  return {
    tracked: async () => (await execOnConnection(ssh, label, `test -f ${quoteArg(posix.join(layout.runDir, STATUS_FILE))}`, { allowFailure: true })).code === 0,
    consoleTail: async () => (await execOnConnection(ssh, label, `tail -n 15 ${quoteArg(layout.consolePath)}`, { allowFailure: true })).stdout,
  };
}

/** Whether the runner's arguments choose the website's port; a remote runner otherwise takes a free one. */
export function websitePortGiven(runnerArgs: readonly string[]): boolean {
  return runnerArgs.some((arg) => arg === "--website-port" || arg.startsWith("--website-port="));
}

/** Where a run's files are in the namespace's state on the remote machine. */
export interface RemoteRunLayout {
  runId: string;
  runsDir: string;
  runDir: string;
  /** The runner's FIELDTEST_HOME. */
  home: string;
  keyPath: string;
  inventoryPath: string;
  consolePath: string;
}

export function remoteRunLayout(nsDir: string, namespace: string, runId: string): RemoteRunLayout {
  const runsDir = posix.join(nsDir, "runs");
  const runDir = posix.join(runsDir, namespace, runId);
  return {
    runId,
    runsDir,
    runDir,
    home: posix.join(nsDir, "home"),
    keyPath: posix.join(stagingRoot(nsDir), "client_key"),
    inventoryPath: posix.join(runDir, "orchestrator-inventory.json"),
    consolePath: posix.join(runDir, CONSOLE_FILE),
  };
}

/** Makes the run directory and the runner's home, and writes the agents' key and the inventory the runner runs on. */
export async function writeRunnerInputs(ssh: SshConnection, label: string, layout: RemoteRunLayout, privateKey: string, inventory: Inventory): Promise<void> {
  await execOnConnection(ssh, label, `mkdir -p -m 700 ${quoteArg(layout.runDir)} ${quoteArg(layout.home)}`);
  await writeOnHost(ssh, label, layout.keyPath, privateKey);
  await writeOnHost(ssh, label, layout.inventoryPath, `${JSON.stringify(inventory, null, 2)}\n`);
}

/**
 * The runner's command line after node: the CLI bundle, the typed arguments with the scenario
 * (the first operand after `run`) replaced by its bundle, and where its fleet and run are.
 */
export function remoteRunnerArgs(codeDir: string, runnerArgs: readonly string[], scenario: string, layout: RemoteRunLayout): string[] {
  const scenarioAt = runnerArgs.indexOf(scenario, 1);
  return [
    posix.join(codeDir, CLI_BUNDLE),
    ...runnerArgs.map((arg, i) => (i === scenarioAt ? posix.join(codeDir, SCENARIO_BUNDLE) : arg)),
    "--inventory", layout.inventoryPath,
    "--ssh-key", layout.keyPath,
    "--runs-dir", layout.runsDir,
    "--run-id", layout.runId,
  ];
}
