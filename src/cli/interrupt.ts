import type { CliContext } from "./context.ts";

export interface Interrupt {
  /** Aborted on the first Ctrl+C: the command winds down and tears down what it made. */
  signal: AbortSignal;
  /** Settles on the first Ctrl+C; for commands that wait for the user. */
  requested: Promise<void>;
  dispose(): void;
}

export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Ctrl+C once asks for a graceful teardown; twice exits at once (agents' TTL still cleans
 * up after them). SIGTERM counts as a first Ctrl+C.
 */
export function handleInterrupts(context: CliContext, onSecond: () => void): Interrupt {
  const controller = new AbortController();
  let resolveRequested!: () => void;
  const requested = new Promise<void>((resolve) => (resolveRequested = resolve));
  const onSignal = () => {
    if (controller.signal.aborted) {
      context.stderr.write("fieldtest: second interrupt, exiting now; agents are removed by their TTL\n");
      onSecond();
      return;
    }
    context.stderr.write("fieldtest: interrupted, tearing down (Ctrl+C again to exit at once)\n");
    controller.abort(new InterruptedError());
    resolveRequested();
  };
  context.signals.on("SIGINT", onSignal);
  context.signals.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    requested,
    dispose() {
      context.signals.off("SIGINT", onSignal);
      context.signals.off("SIGTERM", onSignal);
    },
  };
}

export class InterruptedError extends Error {
  constructor() {
    super("interrupted");
  }
}

