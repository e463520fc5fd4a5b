import { AllWait } from "./all.ts";
import { CommandWait } from "./command.ts";
import { HttpWait, type WaitForHttpOptions } from "./http.ts";
import { LogLineWait } from "./log-line.ts";
import { PortWait } from "./port.ts";
import type { Command } from "../../transport/quote.ts";
import type { WaitStrategy } from "./wait-strategy.ts";

/** The waits fieldtest has, for `agent.waitFor(...)`; a scenario may also pass its own WaitStrategy. */
export const Wait = {
  forPort: (port: number, host?: string): WaitStrategy => new PortWait(port, host),
  forHttp: (url: string, options?: Omit<WaitForHttpOptions, "timeoutMs">): WaitStrategy<number> => new HttpWait(url, options),
  forLogLine: (path: string, pattern: string): WaitStrategy => new LogLineWait(path, pattern),
  forCommand: (command: Command): WaitStrategy => new CommandWait(command),
  forAll: (...strategies: WaitStrategy<unknown>[]): WaitStrategy => new AllWait(strategies),
};

export { DEFAULT_WAIT_MS, pollUntil, WaitTimeoutError } from "./poll.ts";
export type { WaitContext, WaitStrategy, WaitTarget } from "./wait-strategy.ts";
export type { WaitForHttpOptions } from "./http.ts";
export type { WaitForPortOptions } from "./port.ts";
