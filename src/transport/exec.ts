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
  /** Extra environment variables for the command; sent on stdin, never in an argv. */
  env?: Record<string, string>;
  /**
   * Most bytes kept of stdout, and of stderr (default DEFAULT_MAX_OUTPUT_BYTES). More output
   * ends the command and rejects with ExecOutputLimitError: use spawn, or write to a file.
   */
  maxOutputBytes?: number;
}

/** 64 MiB per stream: exec holds the whole output in memory. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

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

export class ExecOutputLimitError extends Error {}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Printed to stderr (after the shell's own message) when `cwd` cannot be entered; exit code 126. */
export const CWD_FAILED_MARKER = "fieldtest: cwd cannot be entered";

/** A command line for the agent's shell, and the bytes that must precede its stdin. */
export interface PreparedCommand {
  line: string;
  stdinPrefix: Buffer;
}

function checkEnvNames(env: [string, string][]): void {
  for (const [name] of env) {
    if (!ENV_NAME.test(name)) throw new Error(`env: "${name}" is not a valid variable name`);
  }
}

/**
 * `cd` to the directory, or stop with the marker: the command must never run elsewhere.
 * A relative path gets `./` so `-` is a directory named "-" (not `cd -`) and CDPATH is not searched.
 */
function cdStep(cwd: string): string {
  const path = cwd.startsWith("/") ? cwd : `./${cwd}`;
  return `cd -- ${quoteArg(path)} || { printf '%s\\n' ${quoteArg(CWD_FAILED_MARKER)} >&2; exit 126; }`;
}

/**
 * The command with `cd` and `env` applied to it only. Environment values travel on stdin,
 * read by the agent's shell before the command starts, so no argv (`ps`) ever shows them:
 * `head -c N` reads exactly N bytes, and the command gets the rest of stdin.
 */
export function prepareCommand(command: Command, options: Pick<ExecOptions, "cwd" | "env">): PreparedCommand {
  const env = Object.entries(options.env ?? {});
  checkEnvNames(env);
  const steps: string[] = [];
  let stdinPrefix = Buffer.alloc(0);
  if (env.length > 0) {
    stdinPrefix = Buffer.from(env.map(([k, v]) => `export ${k}=${quoteArg(v)}\n`).join(""));
    steps.push(`eval "$(head -c ${stdinPrefix.length})" || exit 126`);
  }
  if (options.cwd) steps.push(cdStep(options.cwd));
  // One step per line: whatever the command holds (`;`, `&&`), the steps before it guard all of it.
  steps.push(commandLine(command));
  return { line: steps.join("\n"), stdinPrefix };
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
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  if (!(Number.isInteger(maxOutput) && maxOutput > 0)) throw new Error(`maxOutputBytes must be a positive integer, not ${maxOutput}`);
  const prepared = prepareCommand(command, options);
  const started = Date.now();
  const remote = await connection.exec(withTimeout(prepared.line, options.timeoutMs));
  const result = await collect(remote, options, prepared.stdinPrefix, maxOutput);
  if (result === "over-limit") {
    throw new ExecOutputLimitError(
      `${agentName}: \`${abbreviate(command)}\` wrote more than maxOutputBytes (${maxOutput}) to stdout or stderr and was stopped: ` +
        "exec keeps all output in memory; write large output to a file on the agent, or use spawn, or raise maxOutputBytes",
    );
  }
  const timedOut =
    result === "abandoned" ||
    (options.timeoutMs !== undefined && killedByTimeout(result) && Date.now() - started >= options.timeoutMs);
  if (timedOut) {
    throw new ExecTimeoutError(`${agentName}: \`${abbreviate(command)}\` did not finish within ${options.timeoutMs} ms and was killed`);
  }
  if (options.cwd && result.code === 126 && result.stderr.includes(CWD_FAILED_MARKER)) {
    const reason = result.stderr.split("\n").find((line) => line.trim() !== "" && !line.includes(CWD_FAILED_MARKER))?.trim();
    throw new ExecError(`${agentName}: cwd ${JSON.stringify(options.cwd)} cannot be entered${reason ? ` (${reason})` : ""}; \`${abbreviate(command)}\` did not run`, result);
  }
  if (result.code !== 0 && !options.allowFailure) {
    const detail = result.stderr.trim().split("\n").slice(-5).join("\n") || result.stdout.trim().split("\n").slice(-5).join("\n");
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    throw new ExecError(`${agentName}: \`${abbreviate(command)}\` ${how}${detail ? `:\n${detail}` : ""}`, result);
  }
  return result;
}

/** Buffers a stream up to `limit` bytes; past it, calls `onOver` once and keeps nothing more. */
function bufferUpTo(stream: NodeJS.ReadableStream, limit: number, onOver: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    stream.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        onOver();
        return;
      }
      chunks.push(chunk);
    });
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

async function collect(
  { channel, exited }: RemoteProcess,
  options: ExecOptions,
  stdinPrefix: Buffer,
  maxOutput: number,
): Promise<ExecResult | "abandoned" | "over-limit"> {
  let abandoned = false;
  let overLimit = false;
  const backstop =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          abandoned = true;
          channel.close();
        }, options.timeoutMs + CLIENT_GRACE_MS);
  const input = options.input === undefined ? undefined : Buffer.isBuffer(options.input) ? options.input : Buffer.from(options.input);
  channel.end(stdinPrefix.length === 0 ? input : Buffer.concat([stdinPrefix, input ?? Buffer.alloc(0)]));
  // Closing the channel hangs up on the command: it gets EOF/SIGPIPE on its next write.
  const stop = () => {
    overLimit = true;
    channel.close();
  };
  const [stdoutBytes, stderrBytes, { code, signal }] = await Promise.all([
    bufferUpTo(channel, maxOutput, stop),
    bufferUpTo(channel.stderr, maxOutput, stop),
    exited,
  ]).finally(() => clearTimeout(backstop));
  if (abandoned) return "abandoned";
  if (overLimit) return "over-limit";
  return {
    code: code ?? (signal ? 128 : 255),
    signal,
    stdoutBytes,
    stderrBytes,
    stdout: stdoutBytes.toString("utf8"),
    stderr: stderrBytes.toString("utf8"),
  };
}
