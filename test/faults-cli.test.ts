// Faults outliving their runner: a scenario run by the real CLI partitions two agents and is
// killed with SIGKILL; the agents heal by themselves at the deadline. `fieldtest heal` removes
// faults that no live runner owns.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { Nemesis } from "../src/runtime/faults/nemesis.ts";
import type { Agent } from "../src/runtime/agent.ts";
import { agentContainerName } from "../src/targets/docker-engine/provisioner.ts";
import { followLog } from "./helpers/container-log.ts";
import { requireDocker, runCli, startCli, testFleet, waitFor, waitForOutput } from "./helpers/fleet.ts";

async function faultChains(agent: Agent): Promise<number> {
  const { stdout } = await agent.exec(["fieldtest-fault", "chains"]);
  return stdout.split("\n").filter(Boolean).length;
}

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 2);
  const [a, b] = fleet.cloud.agents as [Agent, Agent];
  const env = { FIELDTEST_HOME: fleet.home };

  t.test("kill -9 of the runner: the agents remove the rules by the deadline", async (t) => {
    const scenario = join(fleet.home, "partition-forever.mts");
    await writeFile(
      scenario,
      `import { defineScenario } from "fieldtest";
export default defineScenario({
  name: "partition-forever",
  async run(cloud) {
    const [a, b] = cloud.agents;
    await cloud.faults.partition([[a], [b]], { healAfterMs: 5000 });
    cloud.log("partitioned");
    await new Promise(() => {});
  },
});
`,
    );
    const runsDir = join(fleet.home, "runs");
    const cli = startCli(["run", scenario, "--namespace", fleet.namespace, "--runs-dir", runsDir], env);
    t.teardown(() => void cli.kill("SIGKILL"));
    await waitForOutput(cli, /partitioned/, "the scenario to partition", 20_000);
    t.match(cli.output(), /fault-start partition [0-9a-f]{8} on agent-001, agent-002 .*iptables, heals by/, "the fault is in the run's log");
    // Followed from the agents' first line: what they say of the heal is read once it is said.
    const logs = await Promise.all([a, b].map((agent) => followLog(docker, agentContainerName(fleet.namespace, agent.name))));
    const killedAt = Date.now();
    cli.kill("SIGKILL");
    t.equal(await faultChains(a), 2, "the partition is in force after the runner died");
    const [runId] = await readdir(join(runsDir, fleet.namespace));
    const history = (await readFile(join(runsDir, fleet.namespace, runId!, "history.jsonl"), "utf8")).split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const start = history.find((entry) => entry.type === "fault-start");
    t.match(start, { kind: "event", data: { kind: "partition" } }, "the fault's start is in the run's history, written before the runner died");
    const deadline = Date.parse(start.data.deadline);
    t.ok(killedAt < deadline, "the runner was killed before the deadline, so its own timer cannot heal");
    await waitFor("the agents to heal", async () => ((await faultChains(a)) + (await faultChains(b)) === 0 ? true : undefined), deadline + 8000 - Date.now(), 100);
    t.comment(`healed ${Date.now() - killedAt} ms after the kill, ${Date.now() - deadline} ms after the deadline`);
    t.equal((await a.exec(["fieldtest-fault", "list"])).stdout.trim(), "", "no fault recorded on the agent");
    // The promise: the session's loop heals *at* the deadline, not the agent's backstop 3 s later.
    // The agent records the heal in its log within its watcher's second.
    const record = new RegExp(`fieldtest-fault: healed ${start.data.id} at its deadline by its session's timer: due (\\d+) ms, healed (\\d+) ms`);
    for (const [i, agent] of [a, b].entries()) {
      const [, due, healed] = await waitFor(`${agent.name}'s log to record the heal`, () => record.exec(logs[i]!.text()) ?? undefined, 5000, 100).catch((error: Error) => {
        throw new Error(`${error.message}; its log:\n${logs[i]!.text()}`);
      });
      t.equal(Number(due), deadline, `${agent.name}: its session's timer healed the fault due at the deadline`);
      const late = Number(healed) - deadline;
      t.ok(late >= 0 && late <= 1000, `${agent.name}: healed ${late} ms after the deadline (within 1 s; the backstop would be 3 s late)`);
    }
  });

  t.test("fieldtest heal --namespace removes faults no runner owns", async (t) => {
    // Another nemesis stands for a runner that is gone: this one never heals them.
    const other = new Nemesis(fleet.cloud.agents);
    await other.partition([[a], [b]]);
    await other.delay({ from: a, to: b, ms: 50 });
    t.equal(await faultChains(b), 4, "two faults' chains on b");
    const result = await runCli(["heal", "--namespace", fleet.namespace, "--json"], env);
    t.equal(result.code, 0, result.stderr);
    const reports = JSON.parse(result.stdout) as Array<{ agent: string; healed: string[] }>;
    // The delay lives on its receiver, b.
    t.same(reports.map((r) => [r.agent, r.healed.length]), [[a.name, 1], [b.name, 2]], "each agent reports the faults it healed");
    t.equal((await faultChains(a)) + (await faultChains(b)), 0, "no chain left");
    const again = await runCli(["heal", "--namespace", fleet.namespace], env);
    t.match(again.stdout, new RegExp(`${a.name}: no fault`));
  });

  t.test("heal needs a namespace", async (t) => {
    const result = await runCli(["heal"], { ...env, FIELDTEST_NAMESPACE: "" });
    t.equal(result.code, 2);
    t.match(result.stderr, /heal needs --namespace/);
  });
}
