import type { WaitContext, WaitStrategy } from "./wait-strategy.ts";

/** Every strategy is ready, awaited one after another within one deadline (so a slow first one leaves less to the rest). */
export class AllWait implements WaitStrategy {
  readonly description: string;

  constructor(private readonly strategies: readonly WaitStrategy<unknown>[]) {
    if (strategies.length === 0) throw new Error("Wait.forAll: give at least one wait");
    this.description = strategies.map((s) => s.description).join(", then ");
  }

  async waitUntilReady(context: WaitContext): Promise<void> {
    const deadline = Date.now() + context.timeoutMs;
    for (const strategy of this.strategies) {
      // At least 1 ms, so a strategy whose turn comes at the deadline still reports what it waited for.
      await strategy.waitUntilReady({ ...context, timeoutMs: Math.max(1, deadline - Date.now()) });
    }
  }
}
