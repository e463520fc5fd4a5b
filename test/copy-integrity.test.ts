// What an agent holds after a copy is checked on the agent against the local content hash
// before it replaces the destination: in a broadcast's relay, and in an agent's own copy over
// SSH. One agent is given a hasher that lies, as a relay that altered the bytes would look.
import { createHash, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { broadcast, BroadcastError, type RelayTarget } from "../src/runtime/broadcast.ts";
import type { Agent } from "../src/runtime/agent.ts";
import { agentContentHash, partialPath } from "../src/runtime/copy.ts";
import { CHUNK_BYTES, hashOfChunkDigests } from "../src/runtime/content-hash.ts";
import { HashCache } from "../src/runtime/hash-cache.ts";
import { quoteArg } from "../src/transport/quote.ts";
import { requireDocker, tempHome, testFleet } from "./helpers/fleet.ts";

// Reads its chunk as the real one does and prints a digest of nothing it read.
const LYING_HASHER = `#!/bin/sh\ncat >/dev/null\necho "${"0".repeat(64)} *stdin"\n`;

// Where the relay program forwards each block it read to its successors (relay-program.ts).
const FORWARD = "  for my $s (@next) {\n    next unless $s->[1];";
/** The agent's relays flip a bit of the first block they read, before they forward, write and hash it. */
function corruptingRelays(target: RelayTarget): RelayTarget {
  return {
    ...target,
    open: (command) => {
      if (!command.includes(FORWARD)) throw new Error("the relay program changed: this test's corruption no longer applies");
      return target.open(command.replace(FORWARD, `  substr($buf, 0, 1) ^= "\\x01" if $got == $n;\n${FORWARD}`));
    },
  };
}

t.test("the agent's chunk digests: as many well-formed lines as the file has chunks, or nothing", async (t) => {
  const digest = createHash("sha256").update("x").digest("hex");
  t.equal(agentContentHash(`${digest} *stdin\n${digest}  -\n`, CHUNK_BYTES + 1), hashOfChunkDigests([digest, digest]), "openssl's and sha256sum's lines");
  t.equal(agentContentHash("", 0), hashOfChunkDigests([]), "an empty file has no chunk");
  t.equal(agentContentHash(`${digest} *stdin\n`, CHUNK_BYTES + 1), undefined, "a chunk missing");
  t.equal(agentContentHash(`${digest} *stdin\n${digest} *stdin\n`, 10), undefined, "a chunk too many");
  t.equal(agentContentHash(`${digest.toUpperCase()} *stdin\n`, 10), undefined, "not the hasher's form");
  t.equal(agentContentHash(`${digest}0 *stdin\n`, 10), undefined, "too long a digest");
});

const docker = await requireDocker(t);
if (docker) {
  // Without the inbox, as agents on other machines are: every byte goes over SSH or the relay.
  const fleet = await testFleet(t, docker, 4);
  const agents = fleet.cloud.agents as Agent[];
  const liar = agents[2]!;
  const dir = await tempHome(t);
  const local = join(dir, "tool");
  // Two chunks, so the relay and the copy both hash more than one.
  await writeFile(local, randomBytes(CHUNK_BYTES + (1 << 20)));
  const hash = createHash("sha256").update(await readFile(local)).digest("hex");
  const held = async (agent: Agent, remote: string) => (await agent.exec(`/usr/bin/sha256sum ${quoteArg(remote)} | cut -d' ' -f1; ls -a "$(dirname ${quoteArg(remote)})"`)).stdout;
  const oldContent = async (remote: string) => {
    await Promise.all(agents.map((a) => a.exec(`mkdir -p "$(dirname ${quoteArg(remote)})" && echo old > ${quoteArg(remote)}`)));
    return (await agents[0]!.exec(`/usr/bin/sha256sum ${quoteArg(remote)} | cut -d' ' -f1`)).stdout.trim();
  };
  // Ahead of /usr/bin on the PATH of SSH sessions: the relay and the copy both pick it up.
  await liar.exec(`printf %s ${quoteArg(LYING_HASHER)} > /usr/local/bin/openssl && chmod 755 /usr/local/bin/openssl`);
  t.teardown(() => liar.exec("rm -f /usr/local/bin/openssl"));

  t.test("a broadcast whose relay to one agent does not match the plan's hash: a BroadcastError names it, its destination is left as it was", async (t) => {
    const remote = "integrity/relayed";
    const old = await oldContent(remote);
    fleet.lines.length = 0;
    const error = await fleet.cloud.copy(agents, local, remote).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(error instanceof BroadcastError, "a BroadcastError");
    const { message, result } = error as BroadcastError;
    t.match(message, new RegExp(`${liar.name} failed: .*does not match the local content hash`), "it names the agent and the mismatch");
    t.same(result.failed.map((f) => f.agent), [liar.name], "only that agent failed");
    t.same(Object.keys(result.agents).sort(), agents.filter((a) => a !== liar).map((a) => a.name).sort(), "the others have it");
    t.match(fleet.lines.map((l) => l.line).join("\n"), new RegExp(`${liar.name} did not get it through the relay \\(what it received does not match the local content hash\\)`), "the relay's mismatch is in the log");
    for (const agent of agents) {
      const state = await held(agent, remote);
      t.equal(state.split("\n")[0], agent === liar ? old : hash, `${agent.name}: ${agent === liar ? "the old content, unreplaced" : "the new content"}`);
      t.notMatch(state, new RegExp(partialPath(remote).split("/").pop()!.replace(".", "\\.")), `${agent.name}: no partial file left`);
    }
  });

  t.test("a relay that alters the bytes mid-chain: what it and those after it received is not kept, and every agent ends with the right bytes", async (t) => {
    const remote = "integrity/altered";
    const [first, altering, after] = agents.filter((a) => a !== liar) as [Agent, Agent, Agent];
    const targets = [first.relayTarget(), corruptingRelays(altering.relayTarget()), after.relayTarget()];
    const log: string[] = [];
    const result = await broadcast(targets, local, remote, { hashes: new HashCache(), log: (line) => log.push(line) });
    t.same(result.failed, [], "no agent is left without it");
    t.equal(result.agents[first.name]?.via, "relay", `${first.name}, before the altering relay, got it through the relay`);
    // Its own copy is altered in every round: only the direct copy gives it the file.
    t.equal(result.agents[altering.name]?.via, "ssh", `${altering.name}, which alters what it relays, got it directly`);
    const mismatch = (agent: Agent) => new RegExp(`${agent.name} did not get it through the relay \\(what it received does not match the local content hash\\)`);
    t.match(log.join("\n"), mismatch(after), `${after.name}, fed by the altering relay, was fed again`);
    for (const agent of [first, altering, after]) t.equal((await held(agent, remote)).split("\n")[0], hash, `${agent.name}: the right bytes`);
  });

  t.test("the agent's own copy over SSH is checked on the agent too", async (t) => {
    const remote = "integrity/copied";
    const old = await oldContent(remote);
    await t.rejects(liar.copy(local, remote), new RegExp(`${liar.name}: copy of .* to ${remote}: what the agent wrote does not match the local content hash .*; the destination was left as it was`));
    t.equal((await held(liar, remote)).split("\n")[0], old, "the destination is unreplaced");
    await liar.exec("rm -f /usr/local/bin/openssl");
    const copied = await liar.copy(local, remote);
    t.match(copied, { transferred: true, via: "ssh" }, "with an honest hasher the same copy goes through");
    t.equal((await held(liar, remote)).split("\n")[0], hash, "and the agent has the file");
  });
}
