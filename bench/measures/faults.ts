import { performance } from "node:perf_hooks";
import { Nemesis } from "../../src/runtime/faults/nemesis.ts";
import { Cloud } from "../../src/runtime/cloud.ts";
import type { Measure, MeasureResult } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

// 200 ms, the former goal, was about 2× the two exec rounds (95 ms) on 10 agents.
const GOAL_PARTITION_VS_EXEC = 2;

/**
 * A partition of the fleet (on its own networks) into two halves, applied and healed (every
 * agent runs fieldtest-fault twice), against the transport floor: two `exec("true")` on every
 * agent. Rounds alternate the two. Own-network bring-up is measured by `bringup`.
 */
export const faults: Measure = {
  id: "faults",
  title: "faults",
  async run(context) {
    const results: MeasureResult[] = [];
    const { teardownAgents: agents, fanoutRounds: rounds } = context.sizes;

    context.progress.step(`faults: partition of ${agents} agents into two halves, ${rounds} rounds`);
    const fleet = await context.up(agents, { network: "own" });
    const cloud = await Cloud.connect(fleet.inventory, { privateKey: fleet.privateKey, logSink: () => {} });
    try {
      const nemesis = new Nemesis(cloud.agents);
      const half = Math.ceil(cloud.agents.length / 2);
      const fieldtest: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < rounds; round++) {
        context.signal.throwIfAborted();
        let started = performance.now();
        const fault = await nemesis.partition([cloud.agents.slice(0, half), cloud.agents.slice(half)]);
        await fault.heal();
        fieldtest.push(performance.now() - started);
        started = performance.now();
        await Promise.all(cloud.agents.map((agent) => agent.exec("true")));
        await Promise.all(cloud.agents.map((agent) => agent.exec("true")));
        baseline.push(performance.now() - started);
      }
      const ft = overRounds(fieldtest);
      const floor = overRounds(baseline);
      results.push(
        row({
          measure: "faults",
          name: `partition of ${agents} agents into two halves, apply + heal, wall`,
          unit: "ms",
          better: "lower",
          fieldtest: ft,
          baselineName: `2 × exec("true") on the ${agents} agents at once`,
          baseline: floor,
          goal: `≤ ${GOAL_PARTITION_VS_EXEC}× the exec floor`,
          met: ratioOf(ft, floor) <= GOAL_PARTITION_VS_EXEC,
        }),
      );
    } finally {
      await cloud.close();
      await context.down(fleet.namespace);
    }
    return results;
  },
};
