import { LineSplitter } from "../line-splitter.ts";
import type { RemoteProcess } from "../../transport/ssh-connection.ts";
import type { FaultAgent } from "./target.ts";

/** How much of the session's stderr is kept, for the error that says why it ended. */
const STDERR_KEPT_CHARS = 2000;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * One agent's resident `fieldtest-fault serve`, on an SSH channel that stays open: each request
 * is a line (an apply adds its rules and an empty line), each answer one line, in order. A change
 * then costs the agent one iptables-restore instead of an SSH session, a shell and a timer. The
 * loop outlives the channel and heals at the deadlines by itself, so closing (or losing) a
 * session never leaves a fault behind.
 */
export class FaultSession {
  /** The requests sent and not yet answered, oldest first: the agent answers in order. */
  private readonly waiting: Waiter[] = [];
  private stderr = "";
  private ended: Error | undefined;

  private constructor(private readonly agentName: string, private readonly remote: RemoteProcess) {}

  /** Starts the agent's loop and waits for its `ready`; `onEnd` runs once the channel closes. */
  static async open(agent: FaultAgent, onEnd: () => void): Promise<FaultSession> {
    const remote = await agent.openChannel("exec fieldtest-fault serve");
    const session = new FaultSession(agent.name, remote);
    const ready = new Promise<void>((resolve, reject) => session.waiting.push({ resolve, reject }));
    session.listen(onEnd);
    await ready;
    return session;
  }

  /** Sends one request (its lines, without the final newline); resolves on `ok`, rejects with the agent's error. */
  request(lines: string): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.remote.channel.write(`${lines}\n`);
    });
  }

  private listen(onEnd: () => void): void {
    const lines = new LineSplitter((line) => this.answer(line));
    this.remote.channel.on("data", (chunk: Buffer) => lines.push(chunk));
    this.remote.channel.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-STDERR_KEPT_CHARS);
    });
    void this.remote.exited.then(({ code }) => {
      const why =
        code === 127
          ? "no fieldtest-fault program on the agent (fieldtest's agent images have it; install dockerfiles/agent/fieldtest-fault)"
          : `it exited with ${code ?? "no status"}${this.stderr.trim() ? `: ${this.stderr.trim()}` : ""}`;
      this.ended = new Error(`${this.agentName}: the fault session ended: ${why}`);
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.ended);
      onEnd();
    });
  }

  private answer(line: string): void {
    const waiter = this.waiting.shift();
    if (!waiter) return;
    if (line === "ready" || line === "ok") waiter.resolve();
    else waiter.reject(new Error(`${this.agentName}: ${line.startsWith("error ") ? line.slice(6) : `unexpected answer from fieldtest-fault serve: ${line}`}`));
  }
}
