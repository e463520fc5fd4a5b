import { LineSplitter } from "../line-splitter.ts";
import type { RemoteProcess } from "../../transport/ssh-connection.ts";
import type { FaultAgent } from "./target.ts";

/** How much of the session's stderr is kept, for the error that says why it ended. */
const STDERR_KEPT_CHARS = 2000;
/** An answer is one iptables-restore away; an agent silent this long is stopped or wedged. */
export const DEFAULT_FAULT_REQUEST_TIMEOUT_MS = 30_000;

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

  private constructor(
    private readonly agentName: string,
    private readonly remote: RemoteProcess,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Starts the agent's loop and waits for its `ready`; `onEnd` runs once the channel closes.
   * Every request, `ready` included, gets an answer within `requestTimeoutMs` or ends the session.
   */
  static async open(agent: FaultAgent, onEnd: () => void, requestTimeoutMs = DEFAULT_FAULT_REQUEST_TIMEOUT_MS): Promise<FaultSession> {
    const remote = await agent.openChannel("exec fieldtest-fault serve");
    const session = new FaultSession(agent.name, remote, requestTimeoutMs);
    const ready = session.awaitAnswer("starting fieldtest-fault serve");
    session.listen(onEnd);
    await ready;
    return session;
  }

  /** Sends one request (its lines, without the final newline); resolves on `ok`, rejects with the agent's error. */
  request(lines: string): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    const answered = this.awaitAnswer(`request ${JSON.stringify(lines.split("\n")[0])}`);
    this.remote.channel.write(`${lines}\n`);
    return answered;
  }

  /**
   * The next answer in order. Answers are matched to requests by position, so a request left
   * without one ends the session: every later answer would go to the wrong request.
   */
  private awaitAnswer(what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ended ??= new Error(`${this.agentName}: fieldtest-fault serve gave no answer to ${what} within ${this.timeoutMs / 1000} s: the agent is stopped or overloaded`);
        for (const waiter of this.waiting.splice(0)) waiter.reject(this.ended);
        this.remote.channel.close();
      }, this.timeoutMs);
      this.waiting.push({
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
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
      this.ended ??= new Error(`${this.agentName}: the fault session ended: ${why}`);
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
