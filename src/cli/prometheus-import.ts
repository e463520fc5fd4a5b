import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { portIsFree } from "../targets/docker-engine/ports.ts";
import { PrometheusServer } from "../observe/prometheus.ts";
import type { CliContext } from "./context.ts";
import { UsageError } from "./context.ts";
import type { Interrupt } from "./interrupt.ts";
import { requirePrometheusBinary } from "./observe-options.ts";
import { portOption } from "./options.ts";
import { stderrProgress } from "./output.ts";

const SNAPSHOT_DIR = "prometheus-snapshot";

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((info) => info.isDirectory(), () => false);
}

/** A run directory holds its snapshot in prometheus-snapshot/; a snapshot folder is taken as it is. */
async function snapshotDir(dir: string): Promise<string> {
  if (await isDirectory(join(dir, SNAPSHOT_DIR))) return join(dir, SNAPSHOT_DIR);
  if (await isDirectory(dir)) return dir;
  throw new UsageError(`${dir} is not a directory: give a run directory (runs/<namespace>/<run-id>) or its ${SNAPSHOT_DIR} folder`);
}

/** The recorded time span, so the user knows where to look in Prometheus' graph. */
async function recordedSpan(runDir: string): Promise<string | undefined> {
  const read = (name: string) => readFile(join(runDir, name), "utf8").then((text) => JSON.parse(text) as Record<string, unknown>, () => undefined);
  const [inventory, result] = await Promise.all([read("inventory.json"), read("result.json")]);
  if (typeof inventory?.createdAt !== "string" || typeof result?.finishedAt !== "string") return undefined;
  return `${inventory.createdAt} to ${result.finishedAt}`;
}

export async function prometheusImportCommand(context: CliContext, request: { dir: string; port: string; host: string }, interrupt: Interrupt): Promise<void> {
  const port = portOption("--port", request.port, 1);
  const snapshot = await snapshotDir(resolve(context.cwd, request.dir));
  const binary = requirePrometheusBinary(context.env, "prometheus import");
  if (!(await portIsFree(port, request.host))) throw new UsageError(`--port ${port} is already in use on ${request.host}: pick another port`);

  const progress = stderrProgress(context.stderr);
  const workDir = await mkdtemp(join(tmpdir(), "fieldtest-prometheus-import-"));
  try {
    progress.step(`copying ${snapshot} and starting Prometheus`);
    const server = await PrometheusServer.importSnapshot({ snapshotDir: snapshot, workDir, binary, host: request.host, port });
    try {
      const span = basename(snapshot) === SNAPSHOT_DIR ? await recordedSpan(dirname(snapshot)) : undefined;
      context.stdout.write(`prometheus ${server.url}${span ? `  (the run recorded ${span})` : ""}\n`);
      progress.step("serving the snapshot: press Ctrl+C to stop");
      await interrupt.requested;
    } finally {
      await server.stop();
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
