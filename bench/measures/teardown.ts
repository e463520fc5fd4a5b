import { performance } from "node:perf_hooks";
import { Cloud } from "../../src/runtime/cloud.ts";
import type { Measure } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_VS_FLOOR = 1.5;

/**
 * A connected fleet to nothing: fieldtest closes its connections and removes the namespace
 * by label; the baseline force-removes the raw containers by id (`docker rm -f`).
 */
export const teardown: Measure = {
  id: "teardown",
  title: "teardown",
  async run(context) {
    const { teardownAgents, teardownRounds } = context.sizes;
    const fieldtest: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < teardownRounds; round++) {
      context.progress.step(`teardown: ${teardownAgents} agents, round ${round + 1}/${teardownRounds}`);
      context.signal.throwIfAborted();
      // The baseline removes containers only, so fieldtest's fleet has no network of its own to remove.
      const fleet = await context.up(teardownAgents, { network: "host" });
      const cloud = await Cloud.connect(fleet.inventory, { privateKey: fleet.privateKey, logSink: () => {} });
      let started = performance.now();
      await cloud.close();
      await context.down(fleet.namespace);
      fieldtest.push((performance.now() - started) / 1000);

      context.signal.throwIfAborted();
      const raw = await context.rawUp(teardownAgents);
      started = performance.now();
      await context.rawDown(raw);
      baseline.push((performance.now() - started) / 1000);
    }
    const ft = overRounds(fieldtest);
    const floor = overRounds(baseline);
    return [
      row({
        measure: "teardown",
        name: `teardown of ${teardownAgents} agents`,
        unit: "s",
        better: "lower",
        fieldtest: ft,
        baselineName: "Engine API remove --force by id",
        baseline: floor,
        goal: `≤ ${GOAL_VS_FLOOR}× floor`,
        met: ratioOf(ft, floor) <= GOAL_VS_FLOOR,
      }),
    ];
  },
};
