import { performance } from "node:perf_hooks";
import { Nemesis } from "../../src/runtime/faults/nemesis.ts";
import { Cloud } from "../../src/runtime/cloud.ts";
import type { Measure, MeasureResult } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_PARTITION_MS = 200;
const GOAL_BRINGUP_VS_FLOOR = 1.5;

/**
 * Faults and the own-network mode they need:
 * - a partition of the fleet into two halves, applied and healed (every agent runs
 *   fieldtest-fault twice), against the transport floor: two `exec("true")` on every agent;
 * - bring-up in the own-network mode (a Docker network per namespace, an address per agent)
 *   against raw Engine API containers on a network of their own. Rounds alternate the two.
 */
export const faults: Measure = {
  id: "faults",
  title: "faults and own-network bring-up",
  async run(context) {
    const results: MeasureResult[] = [];
    const { teardownAgents: agents, fanoutRounds: rounds, bringupSizes, bringupRounds } = context.sizes;

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
      results.push(
        row({
          measure: "faults",
          name: `partition of ${agents} agents into two halves, apply + heal, wall`,
          unit: "ms",
          better: "lower",
          fieldtest: ft,
          baselineName: `2 × exec("true") on the ${agents} agents at once`,
          baseline: overRounds(baseline),
          goal: `≤ ${GOAL_PARTITION_MS} ms`,
          met: ft.median <= GOAL_PARTITION_MS,
        }),
      );
    } finally {
      await cloud.close();
      await context.down(fleet.namespace);
    }

    for (const size of bringupSizes) {
      const fieldtest: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < bringupRounds; round++) {
        context.progress.step(`faults: own-network bring-up of ${size} agents, round ${round + 1}/${bringupRounds}`);
        context.signal.throwIfAborted();
        let started = performance.now();
        const up = await context.up(size, { network: "own" });
        fieldtest.push((performance.now() - started) / 1000);
        await context.down(up.namespace);

        context.signal.throwIfAborted();
        started = performance.now();
        const raw = await context.rawUpOwnNetwork(size);
        baseline.push((performance.now() - started) / 1000);
        await context.rawDownOwnNetwork(raw);
      }
      const ft = overRounds(fieldtest);
      const floor = overRounds(baseline);
      results.push(
        row({
          measure: "faults",
          name: `own-network bring-up of ${size} agents, to SSH-ready`,
          unit: "s",
          better: "lower",
          fieldtest: ft,
          baselineName: "Engine API network + create+start until each address's port opens",
          baseline: floor,
          goal: `≤ ${GOAL_BRINGUP_VS_FLOOR}× floor`,
          met: ratioOf(ft, floor) <= GOAL_BRINGUP_VS_FLOOR,
        }),
      );
    }
    return results;
  },
};
