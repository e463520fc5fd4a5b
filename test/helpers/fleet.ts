// Shared plumbing for tests that use real Docker containers: a private state directory, a
// unique namespace per test, and removal of everything the test made, even when it fails.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type Docker from "dockerode";
import type { Test } from "tap";
import { assertDockerAvailable, createDocker } from "../../src/targets/docker-engine/docker.ts";
import { destroyLocalhost, namespaceContainers, upLocalhost } from "../../src/targets/docker-engine/provisioner.ts";
import type { Inventory } from "../../src/core/inventory.ts";
import { silentProgress } from "../../src/core/progress.ts";
import { NamespaceState } from "../../src/targets/state.ts";
import { Cloud } from "../../src/runtime/cloud.ts";
import { inCi } from "./ci.ts";
import type { LogLine } from "../../src/runtime/daemon.ts";

export const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
export const BIN = join(ROOT, "bin", "fieldtest.js");

/**
 * Docker tests fail in CI when no engine answers (CI must provide one) and are skipped,
 * saying why, on a developer machine without Docker.
 */
export async function requireDocker(t: Test): Promise<Docker | undefined> {
  const docker = createDocker();
  try {
    await assertDockerAvailable(docker);
    return docker;
  } catch (error) {
    if (inCi()) t.fail(`Docker is required in CI: ${(error as Error).message}`);
    else t.plan(0, `no Docker engine: ${(error as Error).message}`);
    return undefined;
  }
}

/** `<prefix>-<6 hex>`: unique per test so parallel test files never share a namespace. */
export function uniqueNamespace(prefix = "t"): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

export async function tempHome(t: Test): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), "fieldtest-test-"));
  // Synchronous: a file's top-level teardowns run as the process exits, where a pending promise never settles.
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

/** Removes the namespace's containers when the test ends, whatever happened. */
export function cleanupNamespace(t: Test, docker: Docker, namespace: string): void {
  t.teardown(() => destroyLocalhost(docker, namespace));
}

export interface TestFleet {
  home: string;
  namespace: string;
  state: NamespaceState;
  inventory: Inventory;
  cloud: Cloud;
  lines: LogLine[];
}

/** A live localhost fleet made through the library, connected, and removed at teardown. */
export async function testFleet(
  t: Test,
  docker: Docker,
  count: number,
  options: { ttlSeconds?: number; portsPerAgent?: number; inbox?: boolean; network?: "own" | "host" } = {},
): Promise<TestFleet> {
  const home = await tempHome(t);
  const namespace = uniqueNamespace();
  cleanupNamespace(t, docker, namespace);
  const state = new NamespaceState(home, namespace);
  const clientKey = await state.clientKey();
  const inventory = await upLocalhost(docker, {
    namespace,
    groups: [{ name: "agent", count, image: "debian" }],
    ttlSeconds: options.ttlSeconds ?? 600,
    portsPerAgent: options.portsPerAgent ?? 100,
    owner: "tap",
    clientKey,
    images: { projectDirs: [], fieldtestDir: join(ROOT, "dockerfiles") },
    progress: silentProgress,
    ...(options.inbox ? { inboxDir: await state.inbox() } : {}),
    ...(options.network ? { network: options.network } : {}),
  });
  const lines: LogLine[] = [];
  const cloud = await Cloud.connect(inventory, { privateKey: clientKey.privateKey, logSink: (line) => lines.push(line) });
  t.teardown(() => cloud.close());
  return { home, namespace, state, inventory, cloud, lines };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The bin's environment: run directories go inside the test's state directory, not the repo. */
function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const runsDir = env.FIELDTEST_HOME ? { FIELDTEST_RUNS_DIR: join(env.FIELDTEST_HOME, "runs") } : {};
  return { ...process.env, ...runsDir, ...env };
}

/** Runs the real `fieldtest` bin as a user would, with its own state directory. */
export function runCli(args: readonly string[], env: Record<string, string>, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: cliEnv(env), maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: number }).code ?? null) : 0;
      resolve({ code: typeof code === "number" ? code : null, stdout, stderr });
    });
  });
}

/** Starts the bin without waiting, for tests that interrupt or kill it. */
export function startCli(args: readonly string[], env: Record<string, string>): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  return Object.assign(child, { output: () => output });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits until the CLI's output matches; a timeout error carries the output, which says why. */
export async function waitForOutput(cli: { output: () => string }, pattern: RegExp, what: string, timeoutMs: number, intervalMs = 100): Promise<void> {
  await waitFor(what, () => (pattern.test(cli.output()) ? true : undefined), timeoutMs, intervalMs).catch((error: Error) => {
    throw new Error(`${error.message}; the command printed:\n${cli.output()}`);
  });
}

export async function containerCount(docker: Docker, namespace: string): Promise<number> {
  return (await namespaceContainers(docker, namespace)).length;
}

/** The entries of the history.jsonl of the one run a test made in `home`'s runs directory for `namespace`. */
export async function runHistory(home: string, namespace: string): Promise<Array<{ kind: string; type: string; data?: Record<string, unknown> }>> {
  const runs = join(home, "runs", namespace);
  const [runId, ...others] = await readdir(runs);
  if (!runId || others.length) throw new Error(`expected one run in ${runs}, found ${[runId, ...others].filter(Boolean).length}`);
  const text = await readFile(join(runs, runId, "history.jsonl"), "utf8");
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** `run --detach` in a process group of its own, so the test can kill whatever it leaves on this machine. */
export function detachInGroup(t: Test, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, FIELDTEST_RUNS_DIR: join(env.FIELDTEST_HOME!, "runs"), ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  t.teardown(() => void killGroup(child.pid!));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const startedAt = Date.now();
  const closed = new Promise<{ pgid: number; code: number | null; stdout: string; stderr: string; ms: number }>((resolve) =>
    child.once("close", (code) => resolve({ pgid: child.pid!, code, stdout, stderr, ms: Date.now() - startedAt })),
  );
  // The group is known at once, so a test can kill the command while it still waits.
  return Object.assign(closed, { pgid: child.pid! });
}

/**
 * The live processes of a process group, as `ps` lines; zombies are left out: an orphan's exit is
 * for PID 1 to collect, and some containers' PID 1 never does (a CLI's esbuild service, killed as
 * the CLI exits, stays a zombie there).
 */
export async function liveGroupMembers(pgid: number): Promise<string[]> {
  const listed = await promisify(execFile)("ps", ["-o", "pid=,stat=,args=", "-g", String(pgid)]).then((r) => r.stdout, () => "");
  return listed.split("\n").filter((line) => line.trim() !== "" && !/^\s*\d+\s+Z/.test(line));
}

/** Kills the process group; true if it still had a member. */
export function killGroup(pgid: number): boolean {
  try {
    process.kill(-pgid, "SIGKILL");
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw error;
  }
}
