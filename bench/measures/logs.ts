import { performance } from "node:perf_hooks";
import { LineSplitter } from "../../src/runtime/line-splitter.ts";
import type { Measure } from "../lib/context.ts";
import { finished } from "../lib/openssh.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

// At least OpenSSH's pace: a fixed lines/s floor let a 0.4× regression pass as met.
const GOAL_VS_MASTER = 1;

/** A daemon that prints `lines` log lines of about 60 bytes and exits. */
function printer(lines: number): string {
  return `seq -f 'bench log line %09.0f: the quick brown fox jumps over the lazy dog' 1 ${lines}`;
}

/**
 * Lines per second from a daemon's stdout to the runner's log sink: `agent.spawn` with an
 * `onLine` sink, vs `ssh` over a ControlMaster whose stdout is cut into lines by the same
 * splitter and counted. Timed from the spawn until the last line arrived.
 */
export const logs: Measure = {
  id: "logs",
  title: "log streaming",
  async run(context) {
    const { logLines, logRounds } = context.sizes;
    const { cloud, inventory, ssh } = await context.sharedFleet();
    const agent = cloud.agents[0]!;
    const spec = inventory.agents[0]!;
    await ssh.startMaster(spec);
    const command = printer(logLines);
    const fieldtest: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < logRounds; round++) {
      context.progress.step(`logs: ${logLines} lines, round ${round + 1}/${logRounds}`);
      context.signal.throwIfAborted();
      let count = 0;
      let started = performance.now();
      const daemon = await agent.spawn(command, { name: `bench-log-${round}`, onLine: () => count++ });
      await daemon.exited;
      fieldtest.push(count / ((performance.now() - started) / 1000));
      if (count !== logLines) throw new Error(`logs: the sink got ${count} of ${logLines} lines`);

      context.signal.throwIfAborted();
      count = 0;
      started = performance.now();
      const child = ssh.spawnSsh(spec, command, "master", ["ignore", "pipe", "pipe"]);
      const splitter = new LineSplitter(() => count++);
      child.stdout!.on("data", (chunk: Buffer) => splitter.push(chunk));
      await finished(child, `ssh ${spec.name} seq`);
      splitter.flush();
      baseline.push(count / ((performance.now() - started) / 1000));
      if (count !== logLines) throw new Error(`logs: ssh delivered ${count} of ${logLines} lines`);
    }
    const ft = overRounds(fieldtest);
    const base = overRounds(baseline);
    return [
      row({
        measure: "logs",
        name: `log streaming, ${logLines.toLocaleString("en")} lines of ~60 B`,
        unit: "lines/s",
        better: "higher",
        fieldtest: ft,
        baselineName: "ssh via ControlMaster, same line splitter",
        baseline: base,
        goal: `≥ ${GOAL_VS_MASTER}× ControlMaster`,
        met: ratioOf(ft, base) >= GOAL_VS_MASTER,
      }),
    ];
  },
};
