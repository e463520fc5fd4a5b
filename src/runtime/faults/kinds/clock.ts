import { checkNumber, type FaultKindModule, type FaultOptions } from "../kind.ts";
import type { FaultAgent } from "../target.ts";

export interface ClockSpec extends FaultOptions {
  agent: FaultAgent;
  offsetMs: number;
}

/** Libfaketime's environment: pass it to `spawn`/`exec` (`env`) for processes `clock` may skew. */
export const CLOCK_ENV: Readonly<Record<string, string>> = {
  LD_PRELOAD: "/usr/local/lib/fieldtest/libfaketime.so.1",
  FAKETIME_TIMESTAMP_FILE: "/var/lib/fieldtest/faketime",
  // Re-read the offset every second, so a skew reaches running processes.
  FAKETIME_CACHE_DURATION: "1",
  FAKETIME_DONT_FAKE_MONOTONIC: "1",
};

/**
 * Skews the clock that libfaketime shows the agent's processes started with `CLOCK_ENV`
 * (dynamically linked programs only: static binaries, Go's included, ignore it). The host's
 * clock is never changed.
 */
export const clock: FaultKindModule<ClockSpec> = {
  kind: "clock",
  needs: { libfaketime: ["faketime"] },
  heals: "empties libfaketime's offset file",
  async plan({ agent, offsetMs }) {
    checkNumber("clock", "offsetMs", offsetMs, -10 * 365 * 86400_000, 10 * 365 * 86400_000);
    const applications = [{ agent, args: ["clock", String(Math.round(offsetMs))] }];
    return { targets: [agent.name], params: { offsetMs }, mechanism: "libfaketime", applications, needs: { faketime: [agent] } };
  },
};
