import { performance } from "node:perf_hooks";
import type { Measure, MeasureResult } from "../lib/context.ts";
import { row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_AGENTS = 50;
const GOAL_MS = 150;

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
      const hasGoal = size === GOAL_AGENTS;
      results.push(
        row({
          measure: "fanout",
          name: `fan-out \`true\` on ${size} agents, wall`,
          unit: "ms",
          better: "lower",
          fieldtest: ft,
          baselineName: `${size}× ssh via ControlMaster`,
          baseline: overRounds(baseline),
          goal: hasGoal ? `≤ ${GOAL_MS} ms` : null,
          met: hasGoal ? ft.median <= GOAL_MS : null,
        }),
      );
    }
    return results;
  },
};
