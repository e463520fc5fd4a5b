import { basename } from "node:path";
import type { AgentSpec } from "../core/inventory.ts";
import type { RelayTarget } from "./broadcast.ts";
import { Copier, type CopyResult } from "./copy.ts";
import type { CopyCoalescer } from "./copy-coalescer.ts";
import { Daemon, type DaemonEvent, type LogSink, type SpawnOptions } from "./daemon.ts";
import { execOnConnection, type ExecOptions, type ExecResult } from "./exec.ts";
import type { HashCache } from "./hash-cache.ts";
import { PortSlice } from "./port-slice.ts";
import type { Command } from "./quote.ts";
import { SshConnection } from "./ssh-connection.ts";

export interface AgentContext {
  privateKey: string;
  hashes: HashCache;
  logSink: LogSink;
  /** Daemon starts, exits and restarts, for the run's history. */
  onDaemonEvent?: (event: DaemonEvent) => void;
  /** Gathers concurrent copies of one file to many agents into a broadcast. */
  copies?: CopyCoalescer;
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
  private readonly connection: SshConnection;
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
    this.connection = new SshConnection({
      label: spec.name,
      host: spec.host,
      port: spec.sshPort,
      user: spec.user,
      hostKey: spec.hostKey,
      privateKey: context.privateKey,
    });
    const notice = (line: string) => context.logSink({ agent: spec.name, daemon: "copy", stream: "stderr", line });
    this.copier = new Copier(this.connection, spec.name, context.hashes, spec.inbox, notice);
    // sshd may sit inside the range (localhost slices start with it): never hand its port out.
    this.ports = new PortSlice(spec.name, spec.portRange, spec.sshPort);
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

  /** Starts a long-running process whose output lines stream to the log sink, prefixed. */
  async spawn(command: Command, options: SpawnOptions = {}): Promise<Daemon> {
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
      { ...options, onLine: this.captured(options.onLine), reservedNames: new Set(this.runningDaemonNames()) },
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
