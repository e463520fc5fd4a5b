import { ExecTimeoutError } from "../../transport/exec.ts";
import { WaitTimeoutError } from "./poll.ts";
import { timeoutMessage, type WaitContext, type WaitStrategy } from "./wait-strategy.ts";

export interface WaitForPortOptions {
  /** The address the agent connects to (default 127.0.0.1, the agent itself). */
  host?: string;
  /** Default 30 s. */
  timeoutMs?: number;
}

/** Something on the agent accepts TCP connections on `port` (polled on the agent itself). */
export class PortWait implements WaitStrategy {
  readonly description: string;
  readonly #host: string;

  constructor(readonly port: number, host = "127.0.0.1") {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`waitForPort: ${port} is not a port number`);
    this.#host = host;
    this.description = `a listener on ${host}:${port}`;
  }

  async waitUntilReady(context: WaitContext): Promise<void> {
    // Pauses of 50 ms growing to 1 s between attempts, all on the agent: one round trip in all.
    const poll = 'p=0.05; until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do sleep $p; case $p in 0.05) p=0.1;; 0.1) p=0.2;; 0.2) p=0.5;; *) p=1;; esac; done';
    try {
      await context.target.exec(["bash", "-c", poll, "wait-for-port", this.#host, String(this.port)], { timeoutMs: context.timeoutMs });
    } catch (error) {
      if (error instanceof ExecTimeoutError) throw new WaitTimeoutError(timeoutMessage(context, this.description, "nothing accepted a connection"));
      throw error;
    }
  }
}
