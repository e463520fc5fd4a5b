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
        const result = await context.target.exec(this.command, { allowFailure: true, timeoutMs: remaining });
        if (result.code === 0) return { done: true, value: undefined };
        const said = (result.stderr.trim() || result.stdout.trim()).slice(-200);
        return { done: false, problem: `the last run exited ${result.code}${said ? `: ${said}` : ""}` };
      },
      (problem) => timeoutMessage(context, this.description, problem),
    );
  }
}
