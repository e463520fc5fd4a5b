import { randomBytes } from "node:crypto";
import type { ClientChannel } from "ssh2";
import type { RemoteProcess } from "../transport/ssh-connection.ts";
import { quoteArg } from "../transport/quote.ts";
import { prepareCommand, type ExecOptions, type PreparedCommand } from "../transport/exec.ts";
import { LineSplitter } from "./line-splitter.ts";

export type RestartPolicy = "no" | "on-failure" | "always";

export interface LogLine {
  agent: string;
  daemon: string;
  stream: "stdout" | "stderr";
  line: string;
  /** The spawn's console level, when it chose one; the run's `--daemon-output` applies otherwise. */
  output?: DaemonOutput;
}

/** Which of a daemon's lines reach the console (its log file always gets them all). */
export type DaemonOutput = "all" | "errors" | "none";

/** What a daemon's life looks like in the run's history. */
export type DaemonEvent =
  | { type: "daemon-start"; agent: string; daemon: string; restart: number }
  | { type: "daemon-exit"; agent: string; daemon: string; code: number | null; signal: string | undefined; final: boolean }
  | { type: "daemon-restart"; agent: string; daemon: string; restart: number; lastExit: string };

export type LogSink = (line: LogLine) => void;

/** Every restart of a daemon by its policy, and the moment the policy gives up. */
export interface RestartEvent {
  type: "restart" | "gave-up";
  agent: string;
  daemon: string;
  /** The restart this is (1 for the first); for `gave-up`, how many were made. */
  restart: number;
  /** How the incarnation before it ended. */
  lastExit: DaemonExit;
  /** The backoff waited before this restart (0 for `gave-up`). */
  delayMs: number;
  /** ISO time of the restart. */
  at: string;
}

export type RestartEventSink = (event: RestartEvent) => void;

export interface RestartBackoff {
  /** The wait before the first restart (default 100 ms); it doubles with each restart. */
  initialMs?: number;
  /** The longest wait (default 5000 ms). */
  maxMs?: number;
}

export interface SpawnOptions extends Pick<ExecOptions, "cwd" | "env"> {
  /** Names the daemon in log prefixes and pid files; defaults to the program's base name. */
  name?: string;
  /** Runs the daemon as this unix user of the agent, created (with a home directory) if missing. */
  user?: string;
  restart?: RestartPolicy;
  /** Gives up restarting after this many restarts (default 5). */
  maxRestarts?: number;
  /** The wait before each restart: initialMs, doubling, capped at maxMs. */
  backoff?: RestartBackoff;
  /** Called on every restart (and when the policy gives up), besides the cloud's restart events. */
  onRestart?: RestartEventSink;
  /** Where each output line goes; defaults to the cloud's log sink. */
  onLine?: LogSink;
  /** How many recent lines `daemon.recentLines()` keeps (default 200). */
  keepLines?: number;
  /** Which lines also go to the console: all, errors (error-looking lines and fieldtest's notices), none. */
  output?: DaemonOutput;
}

export interface DaemonExit {
  code: number | null;
  signal: string | undefined;
}

export interface StopOptions {
  /** Time between TERM and KILL, default 5000 ms. */
  graceMs?: number;
}

/** What a daemon needs from its agent: a channel for the process, a command for signals. */
export interface DaemonHost {
  name: string;
  openChannel(command: string): Promise<RemoteProcess>;
  run(command: string): Promise<void>;
  /** Starts, exits and restarts, for the run's history. */
  onEvent?(event: DaemonEvent): void;
  /** Start daemons so that they outlive this connection (`run --keep=running`). */
  outlivesConnection?: boolean;
}

const RESTART_MARKER = "fieldtest: restarting";

const PID_DIR = "/run/fieldtest/daemons";
/** Output of daemons that outlive the runner's connection, one .out and one .err per launch. */
export const DAEMON_LOG_DIR = "/var/log/fieldtest/daemons";
/** What useradd accepts, kept to what needs no quoting. */
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
// 0.05 s ticks: up to 5 s for a just-opened channel's shell to write its pid file.
const PID_FILE_WAIT_TICKS = 100;

/**
 * A long-running process on an agent. Its shell is a process-group leader (sshd calls
 * setsid for every session), so its pid doubles as the group id: stop signals the whole
 * group, children included, TERM first and KILL after the grace period.
 */
export class Daemon implements DaemonSignals {
  readonly name: string;
  private channel: ClientChannel | undefined;
  private readonly lines: string[] = [];
  private readonly restartEvents: RestartEvent[] = [];
  private stopping = false;
  private restarts = 0;
  private resolveExit!: (exit: DaemonExit) => void;
  /** Settles when the daemon has ended for good (stopped, or exited with no restart left). */
  readonly exited: Promise<DaemonExit>;
  /** Unique per launch, so a stop never reads the pid of an earlier incarnation. */
  private pidFile = "";
  private lastExit: DaemonExit | undefined;

  private constructor(
    private readonly host: DaemonHost,
    private readonly command: PreparedCommand,
    private readonly options: SpawnOptions & { name: string; onLine: LogSink; restartEvents?: RestartEventSink },
  ) {
    this.name = options.name;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  static async start(
    host: DaemonHost,
    argvOrShell: string | readonly string[],
    options: SpawnOptions & { onLine: LogSink; reservedNames: ReadonlySet<string>; restartEvents?: RestartEventSink },
  ): Promise<Daemon> {
    const name = options.name ?? uniqueName(defaultName(argvOrShell), options.reservedNames);
    // The name also names the daemon's log file in the run directory.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.includes("..")) {
      throw new Error(`spawn: name "${name}" may only hold letters, digits, '.', '_' and '-', starting with a letter or digit`);
    }
    if (options.user !== undefined && !USER_NAME.test(options.user)) {
      throw new Error(`spawn: user "${options.user}" must be a unix user name: lowercase letters, digits, '_' and '-', at most 32 characters`);
    }
    if (options.reservedNames.has(name)) {
      throw new Error(`spawn: a daemon named "${name}" is already running on ${host.name}; pass another name`);
    }
    const daemon = new Daemon(host, prepareCommand(argvOrShell, options), { ...options, name });
    await daemon.launch();
    return daemon;
  }

  /** Started to outlive the runner's connection: a close with `keepDaemons` leaves it running. */
  get outlivesConnection(): boolean {
    return Boolean(this.host.outlivesConnection);
  }

  private async launch(): Promise<void> {
    const launch = `${this.name}.${randomBytes(4).toString("hex")}`;
    this.pidFile = `${PID_DIR}/${launch}.pid`;
    // `exec` keeps the pid: the pid file names the process group that stop() signals.
    const own = `echo $$ > ${quoteArg(this.pidFile)} && exec ${this.shellFor(this.command.line)}`;
    const line = this.host.outlivesConnection ? survivingLine(own, `${DAEMON_LOG_DIR}/${launch}`) : `mkdir -p ${PID_DIR} && ${own}`;
    const { channel, exited } = await this.host.openChannel(line);
    this.channel = channel;
    this.host.onEvent?.({ type: "daemon-start", agent: this.host.name, daemon: this.name, restart: this.restarts });
    const emit = (stream: "stdout" | "stderr") => (text: string) => this.record(stream, text);
    const out = new LineSplitter(emit("stdout"));
    const err = new LineSplitter(emit("stderr"));
    const drained = (stream: NodeJS.ReadableStream, lines: LineSplitter) =>
      new Promise<void>((resolve) => {
        stream.on("data", (chunk: Buffer) => lines.push(chunk));
        stream.once("end", () => {
          lines.flush();
          resolve();
        });
      });
    // The environment's values go first on stdin, read by the daemon's shell: no argv shows them.
    channel.end(this.command.stdinPrefix.length ? this.command.stdinPrefix : undefined);
    const pidFile = this.pidFile;
    void Promise.all([drained(channel, out), drained(channel.stderr, err), exited]).then(([, , exit]) => {
      this.channel = undefined;
      // Tidy, not essential: on an unreachable agent the small file just stays.
      this.host.run(`rm -f ${quoteArg(pidFile)}`).catch(() => {});
      this.lastExit = exit;
      void this.afterExit(exit);
    });
  }

  /**
   * A multi-word shell command runs in its own `sh -c` so `exec` applies to all of it. With a
   * user, setpriv drops to it without forking, so the pid file still names the process group.
   */
  private shellFor(command: string): string {
    const shell = `sh -c ${quoteArg(command)}`;
    const user = this.options.user;
    if (user === undefined) return shell;
    const home = `"$(getent passwd ${user} | cut -d: -f6)"`;
    return `setpriv --reuid=${user} --regid="$(id -g ${user})" --init-groups env HOME=${home} USER=${user} LOGNAME=${user} ${shell}`;
  }

  private record(stream: "stdout" | "stderr", line: string): void {
    this.lines.push(line);
    if (this.lines.length > (this.options.keepLines ?? 200)) this.lines.shift();
    const output = this.options.output;
    const agent = this.host.name;
    // Two literals, not a spread: a spread built an object (and threw one away) per line.
    this.options.onLine(output ? { agent, daemon: this.name, stream, line, output } : { agent, daemon: this.name, stream, line });
  }

  private async afterExit(exit: DaemonExit): Promise<void> {
    const policy = this.options.restart ?? "no";
    const failed = exit.code !== 0;
    const wantsRestart = policy === "always" || (policy === "on-failure" && failed);
    const maxRestarts = this.options.maxRestarts ?? 5;
    const restarting = !this.stopping && wantsRestart && this.restarts < maxRestarts;
    if (!this.stopping && wantsRestart && !restarting) {
      this.record("stderr", `fieldtest: ${this.name} not restarted: ${maxRestarts} restart(s) made, last exit ${describeExit(exit)}`);
      this.emitRestart({ type: "gave-up", restart: this.restarts, lastExit: exit, delayMs: 0 });
    }
    this.host.onEvent?.({ type: "daemon-exit", agent: this.host.name, daemon: this.name, code: exit.code, signal: exit.signal, final: !restarting });
    if (restarting) {
      this.restarts += 1;
      // Back off so a daemon that dies at once does not spin: 100 ms, 200 ms, … capped at 5 s by default.
      const { initialMs = 100, maxMs = 5000 } = this.options.backoff ?? {};
      const delayMs = Math.min(initialMs * 2 ** (this.restarts - 1), maxMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (!this.stopping) {
        // The marker line lands in the daemon's log file, between the two incarnations' output.
        this.record("stderr", `${RESTART_MARKER} ${this.name} (restart ${this.restarts}, last exit ${describeExit(exit)})`);
        this.host.onEvent?.({ type: "daemon-restart", agent: this.host.name, daemon: this.name, restart: this.restarts, lastExit: describeExit(exit) });
        this.emitRestart({ type: "restart", restart: this.restarts, lastExit: exit, delayMs });
        try {
          await this.launch();
          return;
        } catch (error) {
          this.record("stderr", `fieldtest: restart failed: ${(error as Error).message}`);
        }
      }
    }
    this.resolveExit(exit);
  }

  private emitRestart(event: Omit<RestartEvent, "agent" | "daemon" | "at">): void {
    const full: RestartEvent = { ...event, agent: this.host.name, daemon: this.name, at: new Date().toISOString() };
    this.restartEvents.push(full);
    this.options.restartEvents?.(full);
    this.options.onRestart?.(full);
  }

  /** Every restart so far, oldest first (and `gave-up` if the policy stopped restarting). */
  restartHistory(): RestartEvent[] {
    return [...this.restartEvents];
  }

  get running(): boolean {
    return this.channel !== undefined;
  }

  get restartCount(): number {
    return this.restarts;
  }

  recentLines(): string[] {
    return [...this.lines];
  }

  /** TERM to the daemon's process group, KILL after the grace period; resolves once it is gone. */
  async stop(options: StopOptions = {}): Promise<DaemonExit> {
    this.stopping = true;
    if (!this.channel) return this.lastExit ?? (await this.exited);
    // The channel opens before the agent's shell has written the pid file: wait for it (bounded).
    const pidFile = quoteArg(this.pidFile);
    const signalGroup = (signal: string) =>
      this.host.run(
        `i=0; while [ ! -s ${pidFile} ] && [ $i -lt ${PID_FILE_WAIT_TICKS} ]; do sleep 0.05; i=$((i+1)); done; ` +
          `pid=$(cat ${pidFile} 2>/dev/null) && kill -${signal} -- -"$pid" 2>/dev/null; true`,
      );
    await signalGroup("TERM");
    const grace = options.graceMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      await signalGroup("KILL");
    }
    return this.exited;
  }

  /** The agent the daemon runs on. */
  get agentName(): string {
    return this.host.name;
  }

  /** The agent-side file holding the current launch's process group id (for agent-side tools). */
  get pidFilePath(): string {
    return this.pidFile;
  }

  pause(): Promise<void> {
    return this.signalRunning("STOP", "pause");
  }

  resume(): Promise<void> {
    return this.signalRunning("CONT", "resume");
  }

  kill(signal: KillSignal = "SIGKILL"): Promise<void> {
    return this.signalRunning(signal.replace(/^SIG/, ""), "kill");
  }

  private async signalRunning(signal: string, what: string): Promise<void> {
    if (!this.channel) throw new Error(`${what}: daemon ${this.name} on ${this.host.name} is not running`);
    await this.host.run(signalGroupLine(this.pidFile, signal)).catch((error: Error) => {
      throw new Error(`${what}: could not signal daemon ${this.name} on ${this.host.name}: ${error.message}`);
    });
  }
}

/** Signals that `daemon.kill` sends, by name as `kill -s` takes them. */
export type KillSignal = "SIGTERM" | "SIGKILL" | "SIGINT" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2" | "SIGABRT";

/** Pause, resume and kill: faults on a daemon's whole process group (see also `cloud.faults.pause`). */
export interface DaemonSignals {
  /** SIGSTOP to the process group: the daemon stops answering until `resume()`. */
  pause(): Promise<void>;
  /** SIGCONT to the process group. */
  resume(): Promise<void>;
  /** Sends `signal` to the process group; the restart policy reacts as to any exit. */
  kill(signal?: KillSignal): Promise<void>;
}

/**
 * A daemon in a session of its own (setsid), its output in files on the agent, so that it outlives
 * the SSH channel; the channel follows the files (tail --pid ends with the daemon) and exits with
 * the daemon's status, so output, exits and restarts look the same to the runner. Its stdin is still
 * the channel's (fd 3: an asynchronous command's stdin is /dev/null otherwise), where the
 * environment's values arrive.
 */
function survivingLine(daemon: string, logs: string): string {
  const out = quoteArg(`${logs}.out`);
  const err = quoteArg(`${logs}.err`);
  return (
    `mkdir -p ${PID_DIR} ${DAEMON_LOG_DIR} && : > ${out} && : > ${err} && exec 3<&0 && ` +
    `{ setsid sh -c ${quoteArg(daemon)} <&3 >${out} 2>${err} & p=$!; exec 3<&-; ` +
    `tail -q -F --pid=$p -n +1 ${err} >&2 & t=$!; tail -q -F --pid=$p -n +1 ${out}; wait $t; wait $p; }`
  );
}

/**
 * The shell line that signals the process group named by a daemon's pid file, waiting
 * (bounded) for the file: the channel opens before the agent's shell has written it.
 */
export function signalGroupLine(pidFile: string, signal: string): string {
  const file = quoteArg(pidFile);
  return (
    `i=0; while [ ! -s ${file} ] && [ $i -lt ${PID_FILE_WAIT_TICKS} ]; do sleep 0.05; i=$((i+1)); done; ` +
    `pid=$(cat ${file} 2>/dev/null) && kill -s ${signal} -- -"$pid"`
  );
}

function uniqueName(base: string, taken: ReadonlySet<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

function defaultName(command: string | readonly string[]): string {
  const program = typeof command === "string" ? command.trim().split(/\s+/)[0] ?? "daemon" : command[0] ?? "daemon";
  const base = program.split("/").pop() || "daemon";
  const name = base.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/\.{2,}/g, ".").replace(/^[^A-Za-z0-9]+/, "");
  return name || "daemon";
}

export function describeExit(exit: DaemonExit): string {
  return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
}
