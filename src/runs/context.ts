import type Docker from "dockerode";
import type { Progress } from "../core/progress.ts";
import type { LogSink } from "../runtime/daemon.ts";

/**
 * What a run needs from whoever starts it (the CLI, a detached runner, a program, a test), passed
 * in rather than read from the process: runs/ knows nothing of the command line.
 */
export interface RunContext {
  env: NodeJS.ProcessEnv;
  /** Where relative scenario and file paths of the spec are resolved. */
  cwd: string;
  /** The fieldtest package root: its dockerfiles/, scenarios/ and observe/grafana/. */
  packageRoot: string;
  /** This machine's Docker engine (a fleet made for the run, Grafana). */
  docker(): Docker;
  /** Where provisioning tools write their own output (Pulumi, image builds). */
  stderr: NodeJS.WritableStream;
  /** What the run is doing, one line a step. */
  progress: Progress;
  /** Daemon output and `cloud.log` lines, after the spec's console level. */
  log: LogSink;
}

/** Bad input in a RunSpec or what it names: nothing was created (the CLI exits 2). */
export class RunInputError extends Error {}
