import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, type Measure } from "../lib/context.ts";
import { row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";

const run = promisify(execFile);
const MB = 1024 * 1024;

/** Resident set size of a process in bytes, from /proc. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/**
 * RSS of a runner process holding a connection to every agent of the shared fleet (its own
 * process: see memory-probe.ts), vs the RSS of one OpenSSH ControlMaster per agent, summed.
 */
export const memory: Measure = {
  id: "memory",
  title: "memory",
  async run(context) {
    const { memoryRounds } = context.sizes;
    const { inventory, state, ssh } = await context.sharedFleet();
    await Promise.all(inventory.agents.map((agent) => ssh.startMaster(agent)));
    const inventoryPath = join(context.dir, "memory-inventory.json");
    await writeFile(inventoryPath, JSON.stringify(inventory));
    const probe = join(ROOT, "bench", "lib", "memory-probe.ts");
    const fieldtest: number[] = [];
    const before: number[] = [];
    const baseline: number[] = [];
    for (let round = 0; round < memoryRounds; round++) {
      context.progress.step(`memory: ${inventory.agents.length} agents, round ${round + 1}/${memoryRounds}`);
      context.signal.throwIfAborted();
      const { stdout } = await run(process.execPath, ["--expose-gc", "--import", "tsx", probe, inventoryPath, state.clientKeyPath], { cwd: ROOT });
      const report = JSON.parse(stdout) as { before: number; after: number };
      fieldtest.push(report.after / MB);
      before.push(report.before / MB);
      const masters = await Promise.all(ssh.masterPids().map(rssOf));
      baseline.push(masters.reduce((a, b) => a + b, 0) / MB);
    }
    const ft = overRounds(fieldtest);
    const idle = overRounds(before);
    return [
      row({
        measure: "memory",
        name: `runner RSS, ${inventory.agents.length} agents connected`,
        unit: "MB",
        better: "lower",
        fieldtest: ft,
        baselineName: `${inventory.agents.length} ssh ControlMasters, RSS summed`,
        baseline: overRounds(baseline),
        goal: null,
        note: `the runner's RSS before connecting: ${idle.median.toFixed(1)} MB, so the connections cost ${(ft.median - idle.median).toFixed(1)} MB`,
      }),
    ];
  },
};
