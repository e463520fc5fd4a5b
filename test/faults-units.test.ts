// The pure parts of cloud.faults: grudges, probe parsing, schedules, a kind's plan.
import t from "tap";
import { completeGrudge, cutLinks, isolationGrudge } from "../src/runtime/faults/grudge.ts";
import type { PlanContext } from "../src/runtime/faults/kind.ts";
import { delay } from "../src/runtime/faults/kinds/delay.ts";
import { FaultRefusedError, parseProbe, type Capability } from "../src/runtime/faults/probe.ts";
import type { FaultAgent } from "../src/runtime/faults/target.ts";
import { runSchedule } from "../src/runtime/faults/schedule.ts";
import { agentAddress, networkConfig } from "../src/targets/docker-engine/network.ts";

t.test("a complete grudge drops every node of the other components", async (t) => {
  const grudge = completeGrudge([["n1", "n2"], ["n3"], ["n4", "n5"]]);
  t.same([...grudge.get("n1")!], ["n3", "n4", "n5"]);
  t.same([...grudge.get("n3")!], ["n1", "n2", "n4", "n5"]);
  t.equal(cutLinks(grudge), 2 * 3 + 1 * 4 + 2 * 3);
  t.throws(() => completeGrudge([["n1"], ["n1", "n2"]]), /n1 is in components 1 and 2/);
  t.same([...isolationGrudge("n2", ["n1", "n2", "n3"]).get("n2")!], ["n1", "n3"]);
});

t.test("the probe's report becomes reasons for what is missing", async (t) => {
  const probe = parseProbe("iptables=ok\nnetem=Error: Specified qdisc kind is unknown.\nhtb=ok\ndelayer=ok\ndevice=eth0\n");
  t.same(probe.missing, { netem: "Error: Specified qdisc kind is unknown.", faketime: "not reported by the agent's fieldtest-fault" });
  t.equal(probe.device, "eth0");
});

t.test("own-network agents: an address each, sshd on 30000, NET_ADMIN and no more", async (t) => {
  const network = { name: "fieldtest-x", id: "id", subnet: "172.21.7.0/24" };
  t.equal(agentAddress(network.subnet, 0), "172.21.7.2");
  t.throws(() => agentAddress(network.subnet, 253), /at most 253 agents/);
  const own = networkConfig({ mode: "own", network, index: 1, portsPerAgent: 100 });
  t.same(own.hostConfig, { NetworkMode: "fieldtest-x", CapAdd: ["NET_ADMIN", "NET_RAW"] });
  t.same([own.host, own.sshPort, own.internalHost, own.portRange], ["172.21.7.3", 30000, "172.21.7.3", [30000, 30099]]);
  const published = networkConfig({ mode: "own", network, index: 0, portsPerAgent: 10, publish: { address: "h1.example", hostPort: 30200 } });
  t.same([published.host, published.sshPort, published.internalHost, published.listenPort], ["h1.example", 30200, "172.21.7.2", 30000]);
  const host = networkConfig({ mode: "host", address: "127.0.0.1", listen: "127.0.0.1", slice: [30100, 30199] });
  t.same(host.hostConfig, { NetworkMode: "host" }, "no capability on the host's network");
});

t.test("a schedule starts, holds and heals each step in turn, and stop() ends it", async (t) => {
  const log: string[] = [];
  const fault = (name: string) => ({ heal: async () => void log.push(`heal ${name}`) });
  function* forever() {
    for (let i = 0; ; i++) yield { durationMs: 20, gapMs: 5, start: async (_: unknown, { healAfterMs }: { healAfterMs: number }) => (log.push(`start ${i} ${healAfterMs}`), fault(String(i))) };
  }
  const run = runSchedule(undefined, forever());
  await new Promise((resolve) => setTimeout(resolve, 70));
  await run.stop();
  await run.done;
  t.ok(log.length >= 4, `${log.length} entries`);
  t.equal(log[0], "start 0 2020", "the agents' deadline trails the runner's heal");
  t.equal(log[1], "heal 0");
  t.equal(log.filter((l) => l.startsWith("start")).length, log.filter((l) => l.startsWith("heal")).length, "every started fault healed");
});

t.test("a fault kind's module plans from what the agents have: delay uses netem, else the delayer, else refuses with both reasons", async (t) => {
  const agent = (name: string, internalHost: string): FaultAgent => ({ name, internalHost, labels: {}, exec: () => Promise.reject(new Error("not used")), openChannel: () => Promise.reject(new Error("not used")) });
  const [a, b] = [agent("agent-001", "10.0.0.1"), agent("agent-002", "10.0.0.2")];
  const contextLacking = (lacking: Partial<Record<string, readonly Capability[]>>): PlanContext => ({
    fleet: [a, b],
    device: async () => "eth0",
    missing: async (agents, needs) =>
      agents.flatMap((x) => {
        const absent = needs.filter((need) => lacking[x.name]?.includes(need));
        return absent.length ? [{ agent: x.name, reason: absent.map((need) => `${need}: not in this kernel`).join(", ") }] : [];
      }),
    require: async () => {},
  });
  const spec = { from: a, to: b, ms: 100 };
  t.match(await delay.plan(spec, contextLacking({})), { mechanism: "netem", applications: [{ agent: a, args: ["netem", "eth0", "100", "0", "10.0.0.2"] }] });
  t.match(await delay.plan(spec, contextLacking({ "agent-001": ["netem"] })), { mechanism: "nfqueue-delayer", applications: [{ agent: b, args: ["delay", "100", "0"], rules: "IN -s 10.0.0.1 -j DELAY" }] });
  await t.rejects(delay.plan(spec, contextLacking({ "agent-001": ["netem"], "agent-002": ["delayer"] })), new FaultRefusedError("delay", [
    { agent: "agent-001", reason: "netem on the sender: netem: not in this kernel" },
    { agent: "agent-002", reason: "NFQUEUE delayer on the receiver: delayer: not in this kernel" },
  ]));
  await t.rejects(delay.plan({ ...spec, ms: -1 }, contextLacking({})), /delay: ms must be a number from 0 to 60000, not -1/);
});
