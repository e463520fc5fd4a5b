import type { Socket } from "node:net";
import ssh2, { type Client, type ClientChannel, type SFTPWrapper } from "ssh2";
import type { AgentSpec } from "../core/inventory.ts";
import { publicKeyBlob } from "./keys.ts";
import { CoalescingSocket } from "./coalescing-socket.ts";

export interface SshTarget {
  /** Used in error messages: the agent name. */
  label: string;
  host: string;
  port: number;
  user: string;
  /** The pinned host key: a server presenting any other key is refused. */
  hostKey: string;
  privateKey: string;
}

export interface RemoteExit {
  /** null when the process was killed by a signal or the channel closed without a status. */
  code: number | null;
  signal: string | undefined;
}

export interface RemoteProcess {
  channel: ClientChannel;
  /** Settles when the channel closes, with the exit status the agent reported. */
  exited: Promise<RemoteExit>;
}

export class HostKeyMismatchError extends Error {}

/**
 * The SSH connection to an agent is gone, or cannot be made: the runner closed it (the run is
 * ending), the agent went away, or the network dropped it. A command in flight then has no exit
 * status: whether it finished on the agent is unknown.
 */
export class AgentConnectionError extends Error {
  constructor(readonly agent: string, message: string) {
    super(`${agent}: ${message}`);
  }
}

/** How to reach an agent of an inventory over SSH, its pinned host key included. */
export function sshTargetOf(spec: AgentSpec, privateKey: string): SshTarget {
  return { label: spec.name, host: spec.host, port: spec.sshPort, user: spec.user, hostKey: spec.hostKey, privateKey };
}

// AES-GCM runs in OpenSSL; ssh2's pure-JS chacha20 is several times slower on bulk copies.
const ALGORITHMS = {
  cipher: ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr"],
} as const;

/** Silence from the server for this many keepalive intervals (and no other byte) drops the connection. */
const SILENT_INTERVALS = 3;

/**
 * One persistent SSH connection to an agent. Every exec, spawn and copy opens a channel on
 * it, so a command costs one round trip instead of a TCP + key exchange + auth handshake.
 * A dropped connection is re-established on the next use.
 */
export class SshConnection {
  private client: Client | undefined;
  private connecting: Promise<Client> | undefined;
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private closed = false;
  private socket: Socket | undefined;
  /** Bytes written by the sockets of earlier connections (before a reconnect). */
  private earlierBytesWritten = 0;

  constructor(
    private readonly target: SshTarget,
    private readonly readyTimeoutMs = 10_000,
    private readonly keepaliveMs = 15_000,
  ) {}

  /** The live client, connecting (or reconnecting) first when needed. */
  async get(): Promise<Client> {
    if (this.closed) throw new AgentConnectionError(this.target.label, "the runner closed its SSH connection to the agent (the run is ending)");
    if (this.client) return this.client;
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private open(): Promise<Client> {
    const { host, port, user, privateKey, label } = this.target;
    const pinned = publicKeyBlob(this.target.hostKey);
    return new Promise((resolve, reject) => {
      const socket: Socket = new CoalescingSocket().setNoDelay(true).connect({ host, port });
      if (this.socket) this.earlierBytesWritten += this.socket.bytesWritten;
      this.socket = socket;
      const client = new ssh2.Client();
      let offered: Buffer | undefined;
      // ssh2's readyTimeout starts at the handshake; the TCP connect before it needs its own bound:
      // towards an address whose host has gone (a stale ARP entry), the kernel retries SYNs for ~2 min.
      const connectTimer = setTimeout(() => fail(new Error(`no TCP connection within ${this.readyTimeoutMs} ms`)), this.readyTimeoutMs);
      const fail = (error: Error) => {
        clearTimeout(connectTimer);
        socket.destroy();
        if (offered && !offered.equals(pinned)) {
          reject(
            new HostKeyMismatchError(
              `${label}: host key of ${host}:${port} does not match the pinned key in the inventory; refusing to connect (was the agent replaced? destroy and re-create the namespace)`,
            ),
          );
        } else {
          reject(new AgentConnectionError(label, `SSH to ${user}@${host}:${port} failed: ${error.message}`));
        }
      };
      socket.once("error", fail);
      client.on("error", fail);
      // ssh2 may end a refused handshake (a host key the verifier rejected) with a close alone.
      client.once("close", () => fail(new Error("connection closed during the handshake")));
      client.once("ready", () => {
        socket.off("error", fail);
        client.off("error", fail);
        client.removeAllListeners("close");
        if (this.closed) {
          // close() was called while this connection was still being set up.
          client.end();
          return reject(new AgentConnectionError(label, "the runner closed its SSH connection to the agent (the run is ending)"));
        }
        client.on("error", () => this.forget(client));
        client.once("close", () => this.forget(client));
        this.dropWhenSilent(socket);
        this.client = client;
        resolve(client);
      });
      socket.once("connect", () => {
        clearTimeout(connectTimer);
        // connect() throws on a key it cannot parse; in this callback that would end the process.
        try {
          client.connect({
            sock: socket,
            username: user,
            privateKey,
            // The key is the only method: ssh2 would first try `none`, a round trip that sshd
            // answers only after its minimum delay for a failed attempt (6–8 ms here).
            authHandler: ["publickey"],
            readyTimeout: this.readyTimeoutMs,
            // ssh2 counts a keepalive as answered only by its reply, which waits behind the data
            // queued on a saturated uplink (30 copies through 100 Mbit/s: over a minute), so its
            // own count never ends the connection; dropWhenSilent does, from what arrives.
            keepaliveInterval: this.keepaliveMs,
            keepaliveCountMax: Number.MAX_SAFE_INTEGER,
            algorithms: ALGORITHMS as never,
            hostVerifier: (key: Buffer) => {
              offered = key;
              return key.equals(pinned);
            },
          });
        } catch (error) {
          fail(error as Error);
        }
      });
    });
  }

  /**
   * Destroys the socket once nothing at all arrived from the server for SILENT_INTERVALS
   * keepalive intervals. A live server sends window adjustments while it receives and answers
   * keepalives when idle.
   */
  private dropWhenSilent(socket: Socket): void {
    const silenceMs = SILENT_INTERVALS * this.keepaliveMs;
    let heard = Date.now();
    socket.on("data", () => {
      heard = Date.now();
    });
    const timer = setInterval(() => {
      if (Date.now() - heard > silenceMs) socket.destroy(new Error(`no answer from the agent for ${silenceMs / 1000} s`));
    }, this.keepaliveMs);
    timer.unref();
    socket.once("close", () => clearInterval(timer));
  }

  /** Why a channel of this connection may have closed without an exit status, for errors. */
  lossReason(): string {
    return this.closed ? "the runner closed its SSH connection to the agent (the run is ending)" : "the SSH connection to the agent was lost (the agent or the network went away)";
  }

  /** Bytes this connection has written to the network so far, handshakes and every channel included. */
  get bytesWritten(): number {
    return this.earlierBytesWritten + (this.socket?.bytesWritten ?? 0);
  }

  private forget(client: Client): void {
    if (this.client === client) {
      this.client = undefined;
      this.sftpSession = undefined;
    }
  }

  /**
   * Opens a channel running `command`. The exit status is captured inside ssh2's callback:
   * a fast command's exit-status can arrive in the same read as the exec reply, before any
   * listener attached after an `await` would exist.
   */
  async exec(command: string): Promise<RemoteProcess> {
    const client = await this.get();
    return new Promise((resolve, reject) => {
      client.exec(command, (error, channel) => {
        if (error) return reject(this.channelError(error));
        let status: RemoteExit = { code: null, signal: undefined };
        channel.once("exit", (code: number | null, signal?: string) => {
          status = { code, signal: signal ?? undefined };
        });
        const exited = new Promise<RemoteExit>((done) => channel.once("close", () => done(status)));
        resolve({ channel, exited });
      });
    });
  }

  /** A TCP connection the agent opens to `host:port` on the runner's behalf (an SSH direct-tcpip channel). */
  async forwardOut(host: string, port: number): Promise<ClientChannel> {
    const client = await this.get();
    return new Promise((resolve, reject) => {
      client.forwardOut("127.0.0.1", 0, host, port, (error, channel) => (error ? reject(error) : resolve(channel)));
    });
  }

  async sftp(): Promise<SFTPWrapper> {
    const client = await this.get();
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((error, sftp) => (error ? reject(this.channelError(error)) : resolve(sftp)));
    }).catch((error) => {
      this.sftpSession = undefined;
      throw error;
    });
    return this.sftpSession;
  }

  private channelError(error: Error): Error {
    return new Error(`${this.target.label}: cannot open an SSH channel: ${error.message}`);
  }

  close(): void {
    this.closed = true;
    this.client?.end();
    this.client = undefined;
  }
}
