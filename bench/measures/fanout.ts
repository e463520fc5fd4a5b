import { performance } from "node:perf_hooks";
import type { Measure, MeasureResult } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

// 150 ms at 50 agents, the former goal, was 0.6× of the 250 ms that 50 ssh via ControlMaster took.
const GOAL_VS_MASTER = 0.6;

/** `true` on N agents at once, wall time until the last one answered; vs N `ssh` over ControlMasters. */
export const fanout: Measure = {
  id: "fanout",
  title: "fan-out",
  async run(context) {
    const { fanoutSizes, fanoutRounds } = context.sizes;
    const { cloud, inventory, ssh } = await context.sharedFleet();
    await Promise.all(inventory.agents.map((agent) => ssh.startMaster(agent)));
    const results: MeasureResult[] = [];
    for (const size of fanoutSizes) {
      const agents = cloud.agents.slice(0, size);
      const specs = inventory.agents.slice(0, size);
      const fieldtestOnce = async () => {
        const started = performance.now();
        await Promise.all(agents.map((agent) => agent.exec("true")));
        return performance.now() - started;
      };
      const sshOnce = async () => {
        const started = performance.now();
        await Promise.all(specs.map((spec) => ssh.timeSsh(spec, "true", "master")));
        return performance.now() - started;
      };
      await fieldtestOnce();
      await sshOnce();
      const fieldtest: number[] = [];
      const baseline: number[] = [];
      context.progress.step(`fanout: ${size} agents, ${fanoutRounds} rounds`);
      for (let round = 0; round < fanoutRounds; round++) {
        context.signal.throwIfAborted();
        fieldtest.push(await fieldtestOnce());
        baseline.push(await sshOnce());
      }
      const ft = overRounds(fieldtest);
      const base = overRounds(baseline);
      results.push(
        row({
          measure: "fanout",
          name: `fan-out \`true\` on ${size} agents, wall`,
          unit: "ms",
          better: "lower",
          fieldtest: ft,
          baselineName: `${size}× ssh via ControlMaster`,
          baseline: base,
          goal: `≤ ${GOAL_VS_MASTER}× ControlMaster`,
          met: ratioOf(ft, base) <= GOAL_VS_MASTER,
        }),
      );
    }
    return results;
  },
};
