import { randomBytes } from "node:crypto";
import { open, utimes } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Measure } from "../lib/context.ts";
import { ratioOf, row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const GOAL_VS_SCP = 3;
const GOAL_UNCHANGED_MS = 20;

async function randomFile(path: string, bytes: number): Promise<void> {
  const file = await open(path, "w");
  try {
    for (let written = 0; written < bytes; written += 1 << 20) await file.write(randomBytes(Math.min(1 << 20, bytes - written)));
  } finally {
    await file.close();
  }
}

/**
 * One file to one agent: fieldtest's `agent.copy` (content hash included: the file's mtime is
 * bumped before each round so the hash cache cannot help) vs `scp` over a ControlMaster, so
 * neither side pays a handshake. Then the same copy again with the file unchanged.
 */
export const copy: Measure = {
  id: "copy",
  title: "copy",
  async run(context) {
    const { copyBytes, copyRounds } = context.sizes;
    const { cloud, inventory, ssh } = await context.sharedFleet();
    const agent = cloud.agents[0]!;
    const spec = inventory.agents[0]!;
    await ssh.startMaster(spec);
    const local = join(context.dir, "copy.bin");
    await randomFile(local, copyBytes);
    const mb = copyBytes / 1e6;
    const fieldtest: number[] = [];
    const scp: number[] = [];
    const fieldtestAgain: number[] = [];
    const scpAgain: number[] = [];
    for (let round = 0; round < copyRounds; round++) {
      context.progress.step(`copy: ${mb.toFixed(0)} MB, round ${round + 1}/${copyRounds}`);
      context.signal.throwIfAborted();
      const stamp = new Date(Date.now() + round * 1000);
      await utimes(local, stamp, stamp);
      const remote = `bench-copy-${round}.bin`;
      let started = performance.now();
      const first = await agent.copy(local, remote);
      fieldtest.push(mb / ((performance.now() - started) / 1000));
      started = performance.now();
      const again = await agent.copy(local, remote);
      fieldtestAgain.push(performance.now() - started);
      if (!first.transferred || again.transferred) throw new Error("copy: expected one transfer, then a skipped re-copy");
      await agent.exec(["rm", "-f", remote]);

      context.signal.throwIfAborted();
      const scpRemote = `bench-scp-${round}.bin`;
      scp.push(mb / ((await ssh.timeScp(spec, local, scpRemote)) / 1000));
      scpAgain.push(await ssh.timeScp(spec, local, scpRemote));
      await agent.exec(["rm", "-f", scpRemote]);
    }
    const ft = overRounds(fieldtest);
    const base = overRounds(scp);
    const again = overRounds(fieldtestAgain);
    return [
      row({
        measure: "copy",
        name: `copy of a ${mb.toFixed(0)} MB file`,
        unit: "MB/s",
        better: "higher",
        fieldtest: ft,
        baselineName: "scp via ControlMaster",
        baseline: base,
        goal: `≥ ${GOAL_VS_SCP}× scp`,
        met: ratioOf(ft, base) >= GOAL_VS_SCP,
      }),
      row({
        measure: "copy",
        name: `re-copy of the unchanged ${mb.toFixed(0)} MB file`,
        unit: "ms",
        better: "lower",
        fieldtest: again,
        baselineName: "scp via ControlMaster (sends it again)",
        baseline: overRounds(scpAgain),
        goal: `≤ ${GOAL_UNCHANGED_MS} ms`,
        met: again.median <= GOAL_UNCHANGED_MS,
      }),
    ];
  },
};
