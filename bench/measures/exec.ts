import { performance } from "node:perf_hooks";
import type { Measure } from "../lib/context.ts";
import { row, ratioOf } from "../lib/result.ts";
import { overSamples } from "../lib/stats.ts";

const GOAL_VS_MASTER = 0.5;

/**
 * `true` on one ready agent, calls interleaved so both sides see the same machine load:
 * fieldtest's persistent connection, an `ssh` over a ControlMaster, and (every fifth call)
 * an `ssh` with a new connection.
 */
export const exec: Measure = {
  id: "exec",
  title: "exec latency",
  async run(context) {
    const { execRounds, execCalls } = context.sizes;
    const { cloud, inventory, ssh } = await context.sharedFleet();
    const agent = cloud.agents[0]!;
    const spec = inventory.agents[0]!;
    await ssh.startMaster(spec);
    for (let i = 0; i < 10; i++) {
      await agent.exec("true");
      await ssh.timeSsh(spec, "true", "master");
    }
    const fieldtest: number[][] = [];
    const master: number[][] = [];
    const fresh: number[][] = [];
    for (let round = 0; round < execRounds; round++) {
      context.progress.step(`exec: round ${round + 1}/${execRounds}, ${execCalls} calls each`);
      const f: number[] = [];
      const m: number[] = [];
      const n: number[] = [];
      for (let call = 0; call < execCalls; call++) {
        context.signal.throwIfAborted();
        const started = performance.now();
        await agent.exec("true");
        f.push(performance.now() - started);
        m.push(await ssh.timeSsh(spec, "true", "master"));
        if (call % 5 === 0) n.push(await ssh.timeSsh(spec, "true", "new"));
      }
      fieldtest.push(f);
      master.push(m);
      fresh.push(n);
    }
    const ft = overSamples(fieldtest);
    const cm = overSamples(master);
    const vsMaster = ratioOf(ft, cm);
    return [
      row({
        measure: "exec",
        name: "exec `true` p50, vs ControlMaster",
        unit: "ms",
        better: "lower",
        fieldtest: ft,
        baselineName: "ssh via ControlMaster",
        baseline: cm,
        goal: `p50 ≤ ${GOAL_VS_MASTER}× ControlMaster`,
        met: vsMaster <= GOAL_VS_MASTER,
        note: `p90: fieldtest ${ft.p90.toFixed(2)} ms, ControlMaster ${cm.p90.toFixed(2)} ms`,
      }),
      row({
        measure: "exec",
        name: "exec `true` p50, vs new connection",
        unit: "ms",
        better: "lower",
        fieldtest: ft,
        baselineName: "ssh, new connection",
        baseline: overSamples(fresh),
        goal: null,
      }),
    ];
  },
};
