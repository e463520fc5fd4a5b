import { pollUntil } from "./poll.ts";
import { timeoutMessage, type WaitContext, type WaitStrategy } from "./wait-strategy.ts";

/**
 * A line matching `pattern` (an extended regular expression, as `grep -E` reads it) appears in
 * a file on the agent, e.g. a daemon's log: `Wait.forLogLine("/var/log/etcd.log", "ready to serve")`.
 */
export class LogLineWait implements WaitStrategy {
  readonly description: string;

  constructor(private readonly path: string, private readonly pattern: string) {
    if (pattern === "") throw new Error("waitForLogLine: the pattern is empty, so any line would match; give the text that says ready");
    this.description = `a line matching /${pattern}/ in ${path}`;
  }

  waitUntilReady(context: WaitContext): Promise<void> {
    return pollUntil(
      context.timeoutMs,
      async (remaining) => {
        // grep -q exits 0 on a match, 1 on none, 2 when the file cannot be read (not written yet).
        const result = await context.target.exec(["grep", "-qE", "--", this.pattern, this.path], { allowFailure: true, timeoutMs: remaining });
        if (result.code === 0) return { done: true, value: undefined };
        return { done: false, problem: result.code === 1 ? "no line matched yet" : `the file could not be read: ${result.stderr.trim().slice(0, 200)}` };
      },
      (problem) => timeoutMessage(context, this.description, problem),
    );
  }
}
