import { createHash, randomBytes } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { broadcast, BroadcastError } from "../src/runtime/broadcast.ts";
import type { Agent } from "../src/runtime/agent.ts";
import { partialPath } from "../src/runtime/copy.ts";
import { HashCache } from "../src/runtime/hash-cache.ts";
import { quoteArg } from "../src/transport/quote.ts";
import { agentContainerName } from "../src/targets/docker-engine/provisioner.ts";
import { requireDocker, tempHome, testFleet } from "./helpers/fleet.ts";

// Agents without the inbox, as agents on other machines are: every byte goes over SSH or the relay.
const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 8);
  const { cloud } = fleet;
  const agents = cloud.agents;
  const dir = await tempHome(t);
  const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");
  const remoteState = async (remote: string, on: readonly Agent[] = agents) =>
    Promise.all(on.map(async (a) => (await a.exec(`sha256sum ${quoteArg(remote)} | cut -d' ' -f1; stat -c %a ${quoteArg(remote)}`)).stdout.trim()));
  // Runs `copy` and kills the victim's container once its relay, stopped when it holds 1 MiB of
  // `remote`, is mid-stream; resolves to the copy's error.
  const copyKillingMidRelay = async (victim: Agent, remote: string, copy: () => Promise<unknown>): Promise<unknown> => {
    const stopped = victim.exec(
      `p=${quoteArg(partialPath(remote))}; for i in $(seq 2000); do s=$(stat -c %s "$p" 2>/dev/null || echo 0); ` +
        `[ "$s" -ge 1048576 ] && exec pkill -STOP -f '^fieldtest-relay'; sleep 0.01; done; exit 1`,
    );
    const copying = copy().then(
      () => undefined,
      (error: unknown) => error,
    );
    await stopped;
    await docker.getContainer(agentContainerName(fleet.namespace, victim.name)).kill();
    return copying;
  };

  t.test("a broadcast to 8 agents: right bytes and mode everywhere, the runner's uplink carries it about once", async (t) => {
    const local = join(dir, "tool");
    await writeFile(local, randomBytes(24 << 20));
    await chmod(local, 0o750);
    const size = 24 << 20;
    const first = await cloud.copy(agents, local, "bcast/tool");
    t.same(Object.values(first.agents).map((r) => r.via), agents.map(() => "relay"), "every agent got it through the relay");
    const hash = await sha256(local);
    t.same(await remoteState("bcast/tool"), agents.map(() => `${hash}\n750`), "same hash and mode on every agent");
    t.ok(first.uplinkBytes <= 2 * size, `runner uplink ${first.uplinkBytes} B for a ${size} B file to 8 agents (≤ 2×)`);
    t.ok(first.uplinkBytes >= size, "the counter does see the one copy the runner sends");
    t.same(first.failed, []);
    const lingering = await Promise.all(agents.map(async (a) => (await a.exec("pgrep -f '^fieldtest-relay' || true")).stdout.trim()));
    t.same(lingering, agents.map(() => ""), "no relay runs (or listens) once the copy is done");

    const again = await cloud.copy(agents, local, "bcast/tool");
    t.same(Object.values(again.agents).map((r) => r.transferred), agents.map(() => false), "unchanged: nothing sent to anyone");
    t.ok(again.uplinkBytes < 64 * 1024, `the second broadcast wrote ${again.uplinkBytes} B: manifest checks only`);

    await chmod(local, 0o755);
    const modeOnly = await cloud.copy(agents, local, "bcast/tool");
    t.same(Object.values(modeOnly.agents).map((r) => r.transferred), agents.map(() => true), "a mode change alone is sent");
    t.same(await remoteState("bcast/tool"), agents.map(() => `${hash}\n755`));
  });

  t.test("an empty file and one of exactly one hash chunk are relayed and verified", async (t) => {
    for (const [name, bytes] of [["empty", 0], ["one-chunk", 16 << 20]] as const) {
      const local = join(dir, name);
      await writeFile(local, randomBytes(bytes));
      const result = await cloud.copy(agents, local, `bcast/${name}`);
      t.same(Object.values(result.agents).map((r) => r.via), agents.map(() => "relay"), `${name}: relayed`);
      const hash = await sha256(local);
      t.same(await remoteState(`bcast/${name}`), agents.map(() => `${hash}\n644`), `${name}: right bytes everywhere`);
    }
  });

  t.test("concurrent agent.copy calls of one file become one broadcast", async (t) => {
    const local = join(dir, "build");
    await writeFile(local, randomBytes(5 << 20));
    const results = await Promise.all(agents.map((a) => a.copy(local, "bcast/build")));
    t.same(results.map((r) => r.via), agents.map(() => "relay"), "relayed, not eight direct copies");
    const hash = await sha256(local);
    t.same(await remoteState("bcast/build"), agents.map(() => `${hash}\n644`));
  });

  t.test("an agent killed mid-relay: the others still get the file, and the result names it", async (t) => {
    const local = join(dir, "big");
    await writeFile(local, randomBytes(48 << 20));
    const remote = "bcast/big";
    const victim = agents[3]!;
    const error = await copyKillingMidRelay(victim, remote, () => cloud.copy(agents, local, remote));
    t.ok(error instanceof BroadcastError, "the copy reports the failure");
    const result = (error as BroadcastError).result;
    t.same(result.failed.map((f) => f.agent), [victim.name], "the failed agent is named");
    t.match((error as Error).message, new RegExp(`${victim.name} failed`));
    const others = agents.filter((a) => a !== victim);
    t.same(Object.keys(result.agents).sort(), others.map((a) => a.name).sort(), "every other agent has it");
    const hash = await sha256(local);
    for (const a of others) t.equal((await a.exec(["sha256sum", remote])).stdout.split(" ")[0], hash, `${a.name} has the right bytes`);
    t.match(
      fleet.lines.map((l) => l.line).join("\n"),
      /agent-005 did not get it through the relay \(the stream ended after \d+ of \d+ bytes\).*relaying bcast\/big to them again from agent-\d+, which has it/,
      "the re-feed from an agent that has it is said",
    );
  });

  // Five live agents (agent-004 was killed above) forced into the tree shape with chainMax 2:
  // the head feeds its two children, each of those feeds two more.
  const treeAgents = [agents[0]!, agents[1]!, agents[2]!, agents[4]!, agents[5]!];
  const hashes = new HashCache();
  t.teardown(() => hashes.close());
  const treeCopy = (local: string, remote: string, log: (message: string) => void) =>
    broadcast(
      treeAgents.map((a) => a.relayTarget()),
      local,
      remote,
      { hashes, log, chainMax: 2, idleSeconds: 10 },
    );

  t.test("a tree (chainMax 2, 5 agents): every agent gets the right bytes through the relay", async (t) => {
    const local = join(dir, "tree");
    await writeFile(local, randomBytes(40 << 20));
    const result = await treeCopy(local, "bcast/tree", () => {});
    t.same(treeAgents.map((a) => result.agents[a.name]?.via), treeAgents.map(() => "relay"), "every agent got it through the relay");
    const hash = await sha256(local);
    t.same(await remoteState("bcast/tree", treeAgents), treeAgents.map(() => `${hash}\n644`), "same hash and mode on every agent");
  });

  t.test("a tree whose inner node dies mid-relay: its subtree is fed again, its sibling was not cut off", async (t) => {
    const local = join(dir, "tree-big");
    await writeFile(local, randomBytes(48 << 20));
    const remote = "bcast/tree-big";
    const [, inner, sibling, ...subtree] = treeAgents as [Agent, Agent, Agent, Agent, Agent];
    const lines: string[] = [];
    const error = await copyKillingMidRelay(inner, remote, () => treeCopy(local, remote, (line) => lines.push(line)));
    t.ok(error instanceof BroadcastError, "the copy reports the failure");
    const result = (error as BroadcastError).result;
    t.same(result.failed.map((f) => f.agent), [inner.name], "only the inner node failed");
    const others = treeAgents.filter((a) => a !== inner);
    t.same(Object.keys(result.agents).sort(), others.map((a) => a.name).sort(), "every other agent has it");
    const hash = await sha256(local);
    for (const a of others) t.equal((await a.exec(["sha256sum", remote])).stdout.split(" ")[0], hash, `${a.name} has the right bytes`);
    const log = lines.join("\n");
    for (const a of subtree) t.match(log, new RegExp(`${a.name} did not get it through the relay`), `${a.name}, below the dead node, was fed again`);
    t.notMatch(log, new RegExp(`${sibling.name} did not get it`), `${sibling.name}, the dead node's sibling, got it in the first round: a tree, not a chain`);
  });
}
