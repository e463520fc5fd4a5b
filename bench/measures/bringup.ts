import { performance } from "node:perf_hooks";
import type { Measure, MeasureResult } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_VS_FLOOR = 2;

/**
 * From nothing to every agent answering an authenticated SSH command (fieldtest's
 * `upLocalhost`, key generation included), vs the raw floor: the same image started through
 * the Engine API until each sshd port accepts TCP. Rounds alternate the two.
 */
export const bringup: Measure = {
  id: "bringup",
  title: "bring-up",
  async run(context) {
    const { bringupSizes, bringupRounds } = context.sizes;
    const results: MeasureResult[] = [];
    for (const size of bringupSizes) {
      const fieldtest: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < bringupRounds; round++) {
        context.progress.step(`bringup: ${size} agents, round ${round + 1}/${bringupRounds}`);
        context.signal.throwIfAborted();
        let started = performance.now();
        // The baseline runs on the host's network, so fieldtest does too (own networks: faults.ts).
        const fleet = await context.up(size, { network: "host" });
        fieldtest.push((performance.now() - started) / 1000);
        await context.down(fleet.namespace);

        context.signal.throwIfAborted();
        started = performance.now();
        const raw = await context.rawUp(size);
        baseline.push((performance.now() - started) / 1000);
        await context.rawDown(raw);
      }
      const ft = overRounds(fieldtest);
      const floor = overRounds(baseline);
      const ratio = ratioOf(ft, floor);
      results.push(
        row({
          measure: "bringup",
          name: `bring-up of ${size} agents, to SSH-ready`,
          unit: "s",
          better: "lower",
          fieldtest: ft,
          baselineName: "Engine API create+start until the port opens",
          baseline: floor,
          goal: `≤ ${GOAL_VS_FLOOR}× floor`,
          met: ratio <= GOAL_VS_FLOOR,
        }),
      );
    }
    return results;
  },
};
