import { ExecTimeoutError } from "../../transport/exec.ts";
import type { Command } from "../../transport/quote.ts";
import { pollUntil } from "./poll.ts";
import { timeoutMessage, type WaitContext, type WaitStrategy } from "./wait-strategy.ts";

/** A command on the agent exits 0, e.g. `["etcdctl", "endpoint", "health"]`; run again until it does. */
export class CommandWait implements WaitStrategy {
  readonly description: string;

  constructor(private readonly command: Command) {
    this.description = `${typeof command === "string" ? command : command.join(" ")} to exit 0`;
  }

  waitUntilReady(context: WaitContext): Promise<void> {
    return pollUntil(
      context.timeoutMs,
      async (remaining) => {
        // A run the deadline kills is an attempt cut short, not the wait's failure: the timeout
        // then names the last run that ended (CI saw `exit 3` killed with 3 ms left).
        const result = await context.target.exec(this.command, { allowFailure: true, timeoutMs: remaining }).catch((error: unknown) => {
          if (error instanceof ExecTimeoutError) return undefined;
          throw error;
        });
        if (!result) return { done: false, problem: `the last run did not finish within the ${Math.round(remaining)} ms left` };
        if (result.code === 0) return { done: true, value: undefined };
        const said = (result.stderr.trim() || result.stdout.trim()).slice(-200);
        return { done: false, problem: `the last run exited ${result.code}${said ? `: ${said}` : ""}` };
      },
      (problem) => timeoutMessage(context, this.description, problem),
      context.signal,
    );
  }
}
