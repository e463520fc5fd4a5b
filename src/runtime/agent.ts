import { basename } from "node:path";
import type { Duplex } from "node:stream";
import { agentGroup, type AgentSpec } from "../core/inventory.ts";
import type { RelayTarget } from "./broadcast.ts";
import { Copier, type CopyResult } from "./copy.ts";
import type { CopyCoalescer } from "./copy-coalescer.ts";
import { Daemon, USER_NAME, type DaemonEvent, type LogSink, type RestartEventSink, type SpawnOptions } from "./daemon.ts";
import { execOnConnection, type ExecOptions, type ExecResult } from "../transport/exec.ts";
import type { HashCache } from "./hash-cache.ts";
import { PortSlice } from "./port-slice.ts";
import { quoteArg, type Command } from "../transport/quote.ts";
import { SshConnection, sshTargetOf, type RemoteProcess } from "../transport/ssh-connection.ts";
import { HttpWait, type WaitForHttpOptions } from "./wait/http.ts";
import { DEFAULT_WAIT_MS } from "./wait/poll.ts";
import { PortWait, type WaitForPortOptions } from "./wait/port.ts";
import type { WaitStrategy } from "./wait/wait-strategy.ts";

export interface AgentContext {
  privateKey: string;
  hashes: HashCache;
  logSink: LogSink;
  /** Daemon starts, exits and restarts, for the run's history. */
  onDaemonEvent?: (event: DaemonEvent) => void;
  /** Gathers concurrent copies of one file to many agents into a broadcast. */
  copies?: CopyCoalescer;
  /** Receives every daemon restart made by a restart policy. */
  restartEvents?: RestartEventSink;
}

export interface WriteFileOptions {
  /** File mode, e.g. 0o600 for a secret (default 0o644). The file never exists with a wider mode. */
  mode?: number;
  /** Unix user (and its group) to own the file. */
  owner?: string;
}

/** A machine of the fleet as a scenario sees it: run, spawn, copy, and ports of its own. */
export class Agent {
  readonly name: string;
  readonly host: string;
  /** The address other agents use to reach this one. */
  readonly internalHost: string;
  readonly sshPort: number;
  readonly user: string;
  readonly portRange: readonly [number, number];
  readonly labels: Readonly<Record<string, string>>;
  /** The fleet group the agent belongs to (`unit` for unit-002); `agent` in a fleet without groups. */
  readonly group: string;
  private readonly connection: SshConnection;
  /** Users being created, so that two spawns as one new user do not race in useradd. */
  private readonly users = new Map<string, Promise<void>>();
  private readonly copier: Copier;
  private readonly daemons = new Map<string, Daemon>();
  private readonly ports: PortSlice;

  constructor(readonly spec: AgentSpec, private readonly context: AgentContext) {
    this.name = spec.name;
    this.host = spec.host;
    this.internalHost = spec.internalHost ?? spec.host;
    this.sshPort = spec.sshPort;
    this.user = spec.user;
    this.portRange = spec.portRange;
    this.labels = spec.labels;
    this.group = agentGroup(spec);
    this.connection = new SshConnection(sshTargetOf(spec, context.privateKey));
    const notice = (line: string) => context.logSink({ agent: spec.name, daemon: "copy", stream: "stderr", line });
    this.copier = new Copier(this.connection, spec.name, context.hashes, spec.inbox, notice);
    // sshd may sit inside the range: the port the runner dials, and the slice's first port, where
    // every fieldtest agent's sshd listens on its own address (on an SSH host with its own network
    // the runner dials a published host port instead). Neither is ever handed out.
    this.ports = new PortSlice(spec.name, spec.portRange, new Set([spec.sshPort, spec.portRange[0]]));
  }

  /** Opens the SSH connection now, so connection errors surface before the scenario starts. */
  async connect(): Promise<void> {
    await this.connection.get();
  }

  /**
   * Runs a command and waits for it. An argv array is quoted so every argument arrives
   * verbatim; a string is shell syntax. A non-zero exit throws unless `allowFailure`.
   */
  exec(command: Command, options: ExecOptions = {}): Promise<ExecResult> {
    return execOnConnection(this.connection, this.name, command, options);
  }

  /**
   * A channel running a shell line, handed over as it is: its stdin stays open for a conversation
   * with a resident program (the fault session, src/runtime/faults/session.ts). For commands, exec or spawn.
   */
  openChannel(line: string): Promise<RemoteProcess> {
    return this.connection.exec(line);
  }

  /** A TCP connection the agent opens to `host:port` for the runner (an SSH direct-tcpip channel): how `fieldtest website` reaches a run's website. */
  openTcp(host: string, port: number): Promise<Duplex> {
    return this.connection.forwardOut(host, port);
  }

  /** Starts a long-running process whose output lines stream to the log sink, prefixed. */
  async spawn(command: Command, options: SpawnOptions = {}): Promise<Daemon> {
    if (options.user !== undefined) await this.ensureUser(options.user);
    const daemon = await Daemon.start(
      {
        name: this.name,
        openChannel: (line) => this.connection.exec(line),
        run: async (line) => {
          await this.exec(line);
        },
        ...(this.context.onDaemonEvent ? { onEvent: this.context.onDaemonEvent } : {}),
      },
      command,
      {
        ...options,
        onLine: this.captured(options.onLine),
        reservedNames: new Set(this.runningDaemonNames()),
        ...(this.context.restartEvents ? { restartEvents: this.context.restartEvents } : {}),
      },
    );
    this.daemons.set(daemon.name, daemon);
    void daemon.exited.then(() => {
      if (this.daemons.get(daemon.name) === daemon) this.daemons.delete(daemon.name);
    });
    return daemon;
  }

  /**
   * Every line reaches the run's log sink (its log files), even when the scenario reads the
   * lines itself with `onLine`; such lines stay off the console, the scenario handles them.
   */
  private captured(onLine: LogSink | undefined): LogSink {
    const sink = this.context.logSink;
    if (!onLine) return sink;
    return (line) => {
      sink({ ...line, output: "none" });
      onLine(line);
    };
  }

  /** Creates a unix user with a home directory unless the agent has it; once per user and agent. */
  ensureUser(user: string): Promise<void> {
    if (!USER_NAME.test(user)) throw new Error(`${this.name}: user "${user}" must be a unix user name: lowercase letters, digits, '_' and '-', at most 32 characters`);
    let created = this.users.get(user);
    if (!created) {
      created = this.exec(`id -u ${user} >/dev/null 2>&1 || useradd --create-home --shell /bin/sh ${user}`).then(() => {});
      created.catch(() => this.users.delete(user));
      this.users.set(user, created);
    }
    return created;
  }

  /**
   * Writes a file on the agent, its content through stdin only: it never appears in a command
   * line, a log or the run directory. The file is made with the final mode before any byte is
   * written, then renamed into place, so no reader ever sees it partial or wider open.
   */
  async writeFile(remote: string, content: string | Buffer, options: WriteFileOptions = {}): Promise<void> {
    const mode = options.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`${this.name}: writeFile ${remote}: mode must be a file mode such as 0o600, not ${mode}`);
    if (options.owner !== undefined && !USER_NAME.test(options.owner)) throw new Error(`${this.name}: writeFile ${remote}: owner "${options.owner}" is not a unix user name`);
    const path = quoteArg(remote);
    const octal = mode.toString(8).padStart(4, "0");
    const chown = options.owner ? ` && chown ${options.owner}: "$t"` : "";
    await this.exec(
      `d=$(dirname -- ${path}) && mkdir -p -- "$d" && t="$d/.fieldtest-write.$$" && (umask 7777 && : > "$t") && chmod ${octal} "$t" && cat > "$t"${chown} && mv -f -- "$t" ${path}`,
      { input: content },
    );
  }

  /** A file of the agent, as UTF-8 text. */
  async readFile(remote: string): Promise<string> {
    return (await this.exec(["cat", "--", remote])).stdout;
  }

  /** Resolves once something on the agent accepts TCP connections on `port` (polled on the agent itself). */
  async waitForPort(port: number, options: WaitForPortOptions = {}): Promise<void> {
    await this.runWait(this.named(() => new PortWait(port, options.host)), options.timeoutMs, "waitForPort");
  }

  /**
   * Resolves once a GET of `url`, made from the agent (through this runner's SSH connection),
   * answers with `status` (default any 2xx). `http://127.0.0.1:8080/ping` is the agent itself.
   */
  async waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
    return this.runWait(this.named(() => new HttpWait(url, options)), options.timeoutMs, "waitForHttp");
  }

  /** Resolves once the strategy says ready: `agent.waitFor(Wait.forAll(Wait.forPort(2379), Wait.forLogLine(log, "ready")))`. */
  async waitFor<T>(strategy: WaitStrategy<T>, options: { timeoutMs?: number } = {}): Promise<T> {
    return this.runWait(strategy, options.timeoutMs, "waitFor");
  }

  private runWait<T>(strategy: WaitStrategy<T>, timeoutMs: number | undefined, caller: string): Promise<T> {
    const target = { name: this.name, exec: (command: Command, options?: ExecOptions) => this.exec(command, options), forwardOut: (host: string, port: number) => this.connection.forwardOut(host, port) };
    return strategy.waitUntilReady({ target, timeoutMs: timeoutMs ?? DEFAULT_WAIT_MS, caller });
  }

  /** A wait built from the scenario's arguments; a bad one is named with this agent. */
  private named<T>(make: () => T): T {
    try {
      return make();
    } catch (error) {
      throw new Error(`${this.name}: ${(error as Error).message}`);
    }
  }

  private runningDaemonNames(): string[] {
    return [...this.daemons.keys()];
  }

  /** Daemons started by this runner and not ended yet. */
  runningDaemons(): Daemon[] {
    return [...this.daemons.values()];
  }

  /**
   * Copies a file or directory to the agent (default: same base name in the login user's
   * home). Content identical to the last copy to that path is not sent again. Calls for the
   * same file and path on several agents at once are sent as one broadcast (see cloud.copy).
   */
  copy(local: string, remote: string = basename(local)): Promise<CopyResult> {
    return this.context.copies ? this.context.copies.copy(this.relayTarget(), local, remote) : this.copier.copy(local, remote);
  }

  /** This agent as a broadcast (`cloud.copy`) sees it. */
  relayTarget(): RelayTarget {
    return {
      name: this.name,
      internalHost: this.internalHost,
      usesInbox: this.copier.usesInbox,
      exec: (command) => this.exec(command),
      open: (command) => this.connection.exec(command),
      copy: (local, remote) => this.copier.copy(local, remote),
      borrowPorts: (count) => this.ports.borrow(count),
      giveBackPorts: (ports) => this.ports.giveBack(ports),
      bytesWritten: () => this.connection.bytesWritten,
    };
  }

  download(remote: string, local: string): Promise<void> {
    return this.copier.download(remote, local);
  }

  /** The next unused port of this agent's slice; throws once the slice is used up. */
  nextPort(): number {
    return this.ports.next();
  }

  /** Stops this runner's daemons (TERM, then KILL) and closes the connection. */
  async close(): Promise<void> {
    await Promise.allSettled(this.runningDaemons().map((daemon) => daemon.stop({ graceMs: 2000 })));
    this.connection.close();
  }
}
