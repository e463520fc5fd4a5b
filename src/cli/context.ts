import { createRequire } from "node:module";
import type Docker from "dockerode";

/** Everything a command touches from the outside world, passed in so tests can supply their own. */
export interface CliContext {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** The fieldtest package root: its dockerfiles/ and scenarios/. */
  packageRoot: string;
  /** The script that starts this CLI, for a runner that starts it again (a detached run). */
  entry: string;
  /** fieldtest's version, as `--version` prints it. */
  version: string;
  docker(): Docker;
  /** Process signals a command may wait on (Ctrl+C); tests pass their own emitter. */
  signals: NodeJS.EventEmitter;
}

export function processContext({ packageRoot, entry, version }: Pick<CliContext, "packageRoot" | "entry" | "version">): CliContext {
  let docker: Docker | undefined;
  return {
    env: process.env,
    cwd: process.cwd(),
    stdout: process.stdout,
    stderr: process.stderr,
    packageRoot,
    entry,
    version,
    docker: () => (docker ??= newDocker()),
    signals: process,
  };
}

/**
 * A client for DOCKER_HOST, or the local socket, as createDocker (targets/docker-engine/docker.ts)
 * makes one. dockerode (with ssh2 and gRPC) is required on first use, not imported: a command
 * that never reaches an engine (--help, describe) starts without it.
 */
function newDocker(): Docker {
  const Dockerode = createRequire(import.meta.url)("dockerode") as typeof Docker;
  return new Dockerode();
}

/** Bad input: the command did nothing and exits with status 2. */
export class UsageError extends Error {}
