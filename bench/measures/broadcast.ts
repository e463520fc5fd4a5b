import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { portIsFree } from "../../src/targets/docker-engine/ports.ts";
import { Cloud } from "../../src/runtime/cloud.ts";
import type { AgentSpec } from "../../src/core/inventory.ts";
import { ROOT, type Measure } from "../lib/context.ts";
import { finished } from "../lib/openssh.ts";
import { row } from "../lib/result.ts";
import { overRounds } from "../lib/stats.ts";
import { randomFile } from "../lib/random-file.ts";

const run = promisify(execFile);
const GOAL_VS_ONE = 1.5;
const GOAL_VS_SCP = 10;

/**
 * The runner in a network namespace of its own whose only link to the agents is a veth pair
 * with a token bucket (tbf) on the runner's side: its uplink. Agents listen on the host end of
 * the pair, so the runner reaches them through the limit while they reach each other on the
 * host unlimited, as VMs of one cloud do. Removing the namespace removes the pair with it.
 */
class LimitedRunnerLink {
  private constructor(
    readonly netns: string,
    readonly agentAddress: string,
    private readonly device: string,
  ) {}

  static async create(mbit: number): Promise<LimitedRunnerLink> {
    const id = randomBytes(3).toString("hex");
    const netns = `ftbench-${id}`;
    const hostEnd = `ftb${id}h`;
    const runnerEnd = `ftb${id}r`;
    const used = (await run("ip", ["-o", "addr"])).stdout;
    let prefix: string;
    do prefix = `10.${200 + randomInt(50)}.${randomInt(256)}`;
    while (used.includes(`${prefix}.`));
    const link = new LimitedRunnerLink(netns, `${prefix}.1`, runnerEnd);
    const inNs = (...argv: string[]) => run("ip", ["netns", "exec", netns, ...argv]);
    await run("ip", ["netns", "add", netns]);
    try {
      await run("ip", ["link", "add", hostEnd, "type", "veth", "peer", "name", runnerEnd, "netns", netns]);
      await run("ip", ["addr", "add", `${prefix}.1/30`, "dev", hostEnd]);
      await run("ip", ["link", "set", hostEnd, "up"]);
      await inNs("ip", "addr", "add", `${prefix}.2/30`, "dev", runnerEnd);
      await inNs("ip", "link", "set", runnerEnd, "up");
      await inNs("ip", "link", "set", "lo", "up");
      await inNs("tc", "qdisc", "add", "dev", runnerEnd, "root", "tbf", "rate", `${mbit}mbit`, "burst", "256kb", "latency", "50ms");
    } catch (error) {
      link.removeNow();
      throw error;
    }
    return link;
  }

  /** Bytes that left the runner through the limited link so far. */
  async sentBytes(): Promise<number> {
    const { stdout } = await run("ip", ["netns", "exec", this.netns, "cat", `/sys/class/net/${this.device}/statistics/tx_bytes`]);
    return Number(stdout.trim());
  }

  /** Synchronous, so it also runs from an exit handler after a second Ctrl+C. */
  removeNow(): void {
    try {
      execFileSync("ip", ["netns", "del", this.netns], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}

/**
 * One file to 1, 10 and 30 agents through a runner uplink limited to 100 Mbit/s (tbf): fieldtest's
 * broadcast (agents relay to each other) vs `scp` to every agent in parallel through the same link,
 * and vs fieldtest's direct per-agent copy. The runner side runs in the limited namespace
 * (bench/lib/broadcast-runner.ts); the figures are wall times of the copy alone.
 */
export const broadcast: Measure = {
  id: "broadcast",
  title: "broadcast",
  async run(context) {
    if (process.getuid?.() !== 0) throw new Error("broadcast: the measure makes a network namespace and a tbf link, which needs root");
    const { broadcastBytes, broadcastSizes, broadcastMbit } = context.sizes;
    const link = await LimitedRunnerLink.create(broadcastMbit);
    const onExit = () => link.removeNow();
    process.once("exit", onExit);
    try {
      const largest = Math.max(...broadcastSizes);
      context.progress.step(`broadcast: bringing up ${largest} agent(s) behind a ${broadcastMbit} Mbit/s runner link`);
      const engine = { target: "localhost" as const, address: link.agentAddress, listen: link.agentAddress, portIsFree };
      const fleet = await context.up(largest, { engine, network: "host" });
      // The host side's view, unlimited, only for tidying the agents between copies.
      const host = await Cloud.connect(fleet.inventory, { privateKey: fleet.privateKey, logSink: () => {} });
      try {
        const local = join(context.dir, "broadcast.bin");
        await randomFile(local, broadcastBytes);
        const mb = broadcastBytes / 1e6;
        const keyPath = fleet.state.clientKeyPath;
        const inNs = (argv: string[]) => ["netns", "exec", link.netns, ...argv];
        const timeRunner = async (agents: readonly AgentSpec[], mode: "broadcast" | "direct", remote: string) => {
          const inventoryPath = join(context.dir, `broadcast-${agents.length}.json`);
          await writeFile(inventoryPath, JSON.stringify({ ...fleet.inventory, agents }));
          const tsx = join(ROOT, "node_modules", ".bin", "tsx");
          const { stdout } = await run("ip", inNs([tsx, join(ROOT, "bench/lib/broadcast-runner.ts"), inventoryPath, keyPath, mode, local, remote]), {
            signal: context.signal,
            maxBuffer: 1 << 20,
          });
          return JSON.parse(stdout.trim().split("\n").pop()!) as { seconds: number; uplinkBytes: number };
        };
        const timeScp = async (agents: readonly AgentSpec[], remote: string) => {
          const started = performance.now();
          await Promise.all(
            agents.map((a) =>
              finished(
                spawn("ip", inNs(["scp", "-F", "/dev/null", "-i", keyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                  "-o", `UserKnownHostsFile=${fleet.state.knownHostsPath}`, "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                  "-P", String(a.sshPort), local, `${a.user}@${a.host}:${remote}`]), { stdio: ["ignore", "ignore", "pipe"] }),
                `scp to ${a.name}`,
              ),
            ),
          );
          return (performance.now() - started) / 1000;
        };
        const tidy = () => Promise.all(host.agents.map((a) => a.exec("rm -f bench-bc-*")));

        const figures = new Map<number, { broadcast: number; direct: number; scp: number; uplink: number; linkBytes: number }>();
        for (const n of broadcastSizes) {
          context.signal.throwIfAborted();
          const agents = fleet.inventory.agents.slice(0, n);
          context.progress.step(`broadcast: ${mb.toFixed(0)} MB to ${n} agent(s): fieldtest broadcast`);
          const linkBefore = await link.sentBytes();
          const relayed = await timeRunner(agents, "broadcast", `bench-bc-${n}-relay.bin`);
          const linkBytes = (await link.sentBytes()) - linkBefore;
          context.progress.step(`broadcast: ${mb.toFixed(0)} MB to ${n} agent(s): fieldtest direct copies`);
          const direct = await timeRunner(agents, "direct", `bench-bc-${n}-direct.bin`);
          context.progress.step(`broadcast: ${mb.toFixed(0)} MB to ${n} agent(s): parallel scp`);
          const scp = await timeScp(agents, `bench-bc-${n}-scp.bin`);
          await tidy();
          figures.set(n, { broadcast: relayed.seconds, direct: direct.seconds, scp, uplink: relayed.uplinkBytes, linkBytes });
        }

        const one = figures.get(Math.min(...broadcastSizes))!;
        const most = figures.get(largest)!;
        const uplinkRate = `${broadcastMbit} Mbit/s`;
        return [
          ...[...figures].flatMap(([n, f]) => [
            row({
              measure: "broadcast",
              name: `broadcast of a ${mb.toFixed(0)} MB file to ${n} agent(s), runner uplink ${uplinkRate}`,
              unit: "s",
              better: "lower",
              fieldtest: overRounds([f.broadcast]),
              baselineName: `scp to each agent in parallel, same link`,
              baseline: overRounds([f.scp]),
              goal: n === largest ? `≤ 1/${GOAL_VS_SCP} of parallel scp` : null,
              met: n === largest ? f.broadcast * GOAL_VS_SCP <= f.scp : undefined,
              note: `runner uplink ${(f.uplink / 1e6).toFixed(1)} MB counted on its sockets, ${(f.linkBytes / 1e6).toFixed(1)} MB through the limited link`,
            }),
            row({
              measure: "broadcast",
              name: `fieldtest direct copy to each of ${n} agent(s), same link`,
              unit: "s",
              better: "lower",
              fieldtest: overRounds([f.direct]),
              baselineName: `scp to each agent in parallel, same link`,
              baseline: overRounds([f.scp]),
              goal: null,
            }),
          ]),
          row({
            measure: "broadcast",
            name: `broadcast to ${largest} agents vs to 1`,
            unit: "s",
            better: "lower",
            fieldtest: overRounds([most.broadcast]),
            baselineName: "broadcast to 1 agent",
            baseline: overRounds([one.broadcast]),
            goal: `≤ ${GOAL_VS_ONE}× the time of 1`,
            met: most.broadcast <= GOAL_VS_ONE * one.broadcast,
          }),
        ];
      } finally {
        await host.close();
      }
    } finally {
      link.removeNow();
      process.off("exit", onExit);
    }
  },
};
