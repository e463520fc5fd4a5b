import { basename, posix } from "node:path";
import type { Inventory } from "../../core/inventory.ts";
import type { Progress } from "../../core/progress.ts";
import { CONSOLE_FILE, TRACKED_FILE } from "../record.ts";
import { RUN_SPEC_FILE, type RunSpec } from "../spec.ts";
import { RUNNER_INVENTORY_FILE } from "./runner-home.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { quoteArg } from "../../transport/quote.ts";
import type { SshConnection } from "../../transport/ssh-connection.ts";
import { buildOrchestratorBundle, CLI_BUNDLE, SCENARIO_BUNDLE } from "./runner-bundle.ts";
import { assertNodeRunsOn } from "./node-binary.ts";
import { stageOnHost, writeOnHost, type StagedFile } from "./staging.ts";

/**
 * What a detached runner on another machine (a runner container on an SSH host, a process on a
 * fleet's runner agent) is given there: the staged CLI, scenario and node, a run directory, the
 * agents' key and inventory, all in the namespace's state on that machine.
 */

/** node's variables that name files of this machine (`--import` hooks, module paths), which the host has not. */
export const MACHINE_NODE_VARIABLES = ["NODE_OPTIONS", "NODE_PATH"];

/**
 * Where the namespace's staged files (bundles, node, the TLS files, the key) are on the remote
 * machine. The folder keeps the name it has always had there, so a namespace's next run finds
 * what an earlier one staged.
 */
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
  /** The scenario's bundle. */
  scenarioPath: string;
}

/**
 * Bundles fieldtest and the scenario and sends them, with this machine's node binary, to
 * content-addressed directories under `<nsDir>/orchestrator/` (nothing is sent that is there),
 * once the host's system is known to run that binary.
 */
export async function stageRunner(ssh: SshConnection, label: string, packageRoot: string, scenarioPath: string, nsDir: string, progress: Progress): Promise<StagedRunner> {
  const root = stagingRoot(nsDir);
  assertNodeRunsOn(process, (await execOnConnection(ssh, label, "uname -s -m")).stdout, label);
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
  return { codeDir: code.dir, nodePath: posix.join(node.dir, "node"), scenarioPath: posix.join(code.dir, SCENARIO_BUNDLE) };
}

/** A file of this machine that the spec names. */
export interface NamedFile {
  /** The option that named it, for messages, e.g. `--website-tls-cert`. */
  flag: string;
  path: string;
}

/**
 * The files the spec names (the website's TLS files) in a content-addressed directory of their
 * own under `<nsDir>/orchestrator/`, owner-only (a TLS key among them), and their paths there, in
 * order; undefined when there are none. Each is `<n>-<name>`, so two files of one name from
 * different directories stay apart.
 */
export async function stageNamedFiles(ssh: SshConnection, label: string, nsDir: string, files: readonly NamedFile[], progress: Progress): Promise<{ dir: string; paths: string[] } | undefined> {
  if (files.length === 0) return undefined;
  const staged: StagedFile[] = files.map((f, i) => ({ relative: `${i + 1}-${basename(f.path)}`, local: f.path, mode: 0o600 }));
  const { dir, sentBytes } = await stageOnHost(ssh, label, stagingRoot(nsDir), staged);
  progress.step(`${label}: ${files.map((f) => f.flag).join(", ")} staged in ${dir} (${sentBytes} bytes sent)`);
  return { dir, paths: staged.map((f) => posix.join(dir, f.relative)) };
}

/** A runner started on another machine, and how to tell from here how it is doing. */
export interface RemoteRunner {
  runId: string;
  /** The run directory on that machine. */
  runDir: string;
  /** Whether the runner tracks its run (its status is there and on the fleet's mirror). */
  tracked(): Promise<boolean>;
  /** Why the runner is gone, or undefined while it runs. */
  ended(): Promise<string | undefined>;
  consoleTail(): Promise<string>;
  close(): void;
}

/** How the parent tells, over the machine's SSH, that the runner tracks its run, and what it last printed. */
export function watchOverSsh(ssh: SshConnection, label: string, layout: RemoteRunLayout): Pick<RemoteRunner, "tracked" | "consoleTail"> {
  return {
    tracked: async () => (await execOnConnection(ssh, label, `test -f ${quoteArg(posix.join(layout.runDir, TRACKED_FILE))}`, { allowFailure: true })).code === 0,
    consoleTail: async () => (await execOnConnection(ssh, label, `tail -n 15 ${quoteArg(layout.consolePath)}`, { allowFailure: true })).stdout,
  };
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
  specPath: string;
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
    inventoryPath: posix.join(runDir, RUNNER_INVENTORY_FILE),
    consolePath: posix.join(runDir, CONSOLE_FILE),
    specPath: posix.join(runDir, RUN_SPEC_FILE),
  };
}

/** Makes the run directory and the runner's home, and writes the agents' key, the inventory the runner runs on and its spec. */
export async function writeRunnerInputs(ssh: SshConnection, label: string, layout: RemoteRunLayout, privateKey: string, inventory: Inventory, spec: RunSpec): Promise<void> {
  await execOnConnection(ssh, label, `mkdir -p -m 700 ${quoteArg(layout.runDir)} ${quoteArg(layout.home)}`);
  await writeOnHost(ssh, label, layout.keyPath, privateKey);
  await writeOnHost(ssh, label, layout.inventoryPath, `${JSON.stringify(inventory, null, 2)}\n`);
  await writeOnHost(ssh, label, layout.specPath, `${JSON.stringify(spec, null, 2)}\n`);
}

/** The runner's command line after node: the CLI bundle's `runner` on the staged spec. */
export function remoteRunnerArgs(codeDir: string, layout: RemoteRunLayout): string[] {
  return [posix.join(codeDir, CLI_BUNDLE), "runner", layout.specPath];
}
