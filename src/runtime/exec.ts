import { buffer } from "node:stream/consumers";
import type { RemoteProcess, SshConnection } from "./ssh-connection.ts";
import { commandLine, quoteArg, type Command } from "./quote.ts";

export interface ExecOptions {
  /** Bytes written to the command's stdin, then EOF. Without it stdin is closed at once. */
  input?: string | Buffer;
  /** Kill the command and everything it started (SIGKILL) and reject after this many milliseconds. */
  timeoutMs?: number;
  /** Resolve on a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** Working directory on the agent. */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
}

export interface ExecResult {
  code: number;
  signal: string | undefined;
  /** Raw bytes, so binary output survives; `stdout`/`stderr` are their UTF-8 reading. */
  stdoutBytes: Buffer;
  stderrBytes: Buffer;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  constructor(message: string, readonly result: ExecResult) {
    super(message);
  }
}

export class ExecTimeoutError extends Error {}

/** Prefixes `cd` and `env` so they apply to the user's command only, quoted like the argv. */
export function wrapCommand(command: Command, options: Pick<ExecOptions, "cwd" | "env">): string {
  let line = commandLine(command);
  const env = Object.entries(options.env ?? {});
  for (const [name] of env) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`env: "${name}" is not a valid variable name`);
  }
  if (env.length > 0) line = `export ${env.map(([k, v]) => commandLine([`${k}=${v}`])).join(" ")}; ${line}`;
  if (options.cwd) line = `cd ${commandLine([options.cwd])} && ${line}`;
  return line;
}

function abbreviate(command: Command): string {
  const text = commandLine(command);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * The agent enforces timeouts itself with coreutils' `timeout`, which kills the command's
 * whole process group: SSH "signal" requests are not delivered once stdin is closed, and
 * a command must not outlive its deadline even if the connection drops.
 */
function withTimeout(line: string, timeoutMs: number | undefined): string {
  if (timeoutMs === undefined) return line;
  if (!(timeoutMs > 0)) throw new Error(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
  return `exec timeout -s KILL ${(timeoutMs / 1000).toFixed(3)} "\${SHELL:-sh}" -c ${quoteArg(line)}`;
}

/** `timeout -s KILL` kills its own process group, itself included: SIGKILL, or 128 + 9 through a shell. */
function killedByTimeout(result: ExecResult): boolean {
  return result.signal === "SIGKILL" || result.signal === "KILL" || result.code === 137;
}
// If the agent cannot answer at all, the runner gives up this long after the deadline.
const CLIENT_GRACE_MS = 5000;

/** Runs one command on its own channel of the persistent connection. */
export async function execOnConnection(
  connection: SshConnection,
  agentName: string,
  command: Command,
  options: ExecOptions = {},
): Promise<ExecResult> {
  const started = Date.now();
  const remote = await connection.exec(withTimeout(wrapCommand(command, options), options.timeoutMs));
  const result = await collect(remote, options);
  const timedOut =
    result === "abandoned" ||
    (options.timeoutMs !== undefined && killedByTimeout(result) && Date.now() - started >= options.timeoutMs);
  if (timedOut) {
    throw new ExecTimeoutError(`${agentName}: \`${abbreviate(command)}\` did not finish within ${options.timeoutMs} ms and was killed`);
  }
  if (result.code !== 0 && !options.allowFailure) {
    const detail = result.stderr.trim().split("\n").slice(-5).join("\n") || result.stdout.trim().split("\n").slice(-5).join("\n");
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    throw new ExecError(`${agentName}: \`${abbreviate(command)}\` ${how}${detail ? `:\n${detail}` : ""}`, result);
  }
  return result;
}

async function collect({ channel, exited }: RemoteProcess, options: ExecOptions): Promise<ExecResult | "abandoned"> {
  let abandoned = false;
  const backstop =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          abandoned = true;
          channel.close();
        }, options.timeoutMs + CLIENT_GRACE_MS);
  channel.end(options.input);
  const [stdoutBytes, stderrBytes, { code, signal }] = await Promise.all([buffer(channel), buffer(channel.stderr), exited]).finally(() =>
    clearTimeout(backstop),
  );
  if (abandoned) return "abandoned";
  return {
    code: code ?? (signal ? 128 : 255),
    signal,
    stdoutBytes,
    stderrBytes,
    stdout: stdoutBytes.toString("utf8"),
    stderr: stderrBytes.toString("utf8"),
  };
}
