import type { Duplex } from "node:stream";
import type { ExecOptions, ExecResult } from "../../transport/exec.ts";
import type { Command } from "../../transport/quote.ts";

/** What a wait may do on the agent it waits on: run a command there, or open a connection from it. */
export interface WaitTarget {
  readonly name: string;
  exec(command: Command, options?: ExecOptions): Promise<ExecResult>;
  /** A TCP stream opened by the agent (the runner's SSH connection forwards it), so `127.0.0.1` is the agent itself. */
  forwardOut(host: string, port: number): Promise<Duplex>;
}

export interface WaitContext {
  target: WaitTarget;
  /** Time this wait may take, from now. */
  timeoutMs: number;
  /** The call the scenario made, named in a timeout (`waitForPort`, `waitFor`). */
  caller: string;
}

/**
 * Readiness as a strategy, as testcontainers has it: a wait is an object polled against a
 * deadline, never a fixed sleep, and a timeout (WaitTimeoutError) says what was awaited and
 * what the last attempt saw. A new kind of wait is a new file implementing this; callers
 * compose them (`Wait.forAll`) and run them with `agent.waitFor(...)`.
 */
export interface WaitStrategy<T = void> {
  /** What is awaited, as a timeout names it: "a listener on 127.0.0.1:8080". */
  readonly description: string;
  waitUntilReady(context: WaitContext): Promise<T>;
}

/** `agent-001: waited 400 ms for a listener on 127.0.0.1:8080 (waitForPort); nothing accepted a connection`. */
export function timeoutMessage(context: WaitContext, description: string, problem: string): string {
  return `${context.target.name}: waited ${context.timeoutMs} ms for ${description} (${context.caller}); ${problem}`;
}
