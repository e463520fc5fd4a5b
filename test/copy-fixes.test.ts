import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { Cloud } from "../src/runtime/cloud.ts";
import { partialPath } from "../src/runtime/copy.ts";
import type { LogLine } from "../src/runtime/daemon.ts";
import { quoteArg } from "../src/transport/quote.ts";
import { requireDocker, tempHome, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1, { inbox: true });
  const spec = fleet.inventory.agents[0]!;
  const privateKey = (await fleet.state.clientKey()).privateKey;
  // The same agent as a runner on another machine sees it: no inbox, copies over SSH.
  const { inbox: _none, ...remoteSpec } = spec;
  const overSsh = await Cloud.connect({ ...fleet.inventory, agents: [remoteSpec] }, { privateKey, logSink: () => {} });
  t.teardown(() => overSsh.close());
  const viaInbox = fleet.cloud.agents[0]!;
  const viaSsh = overSsh.agents[0]!;
  const mode = async (path: string) => (await viaSsh.exec(["stat", "-c", "%a", path])).stdout.trim();

  t.test("a mode change alone is sent (chmod +x locally)", async (t) => {
    const dir = await tempHome(t);
    const local = join(dir, "tool");
    await writeFile(local, "#!/bin/sh\necho hi\n");
    await chmod(local, 0o644);
    for (const [agent, remote] of [[viaSsh, "modes/ssh-tool"], [viaInbox, "modes/inbox-tool"]] as const) {
      await chmod(local, 0o644);
      t.equal((await agent.copy(local, remote)).transferred, true);
      t.equal((await agent.copy(local, remote)).transferred, false, "unchanged: skipped");
      await chmod(local, 0o755);
      const again = await agent.copy(local, remote);
      t.equal(again.transferred, true, `${again.via}: the new mode is a change`);
      t.equal(await mode(remote), "755", `${again.via}: the agent's file is executable`);
      t.equal((await agent.copy(local, remote)).transferred, false, "and then unchanged again");
    }
  });

  t.test("a tree whose own mode changed is sent again", async (t) => {
    const tree = join(await tempHome(t), "tree");
    await mkdir(tree);
    await writeFile(join(tree, "a"), "a\n");
    await chmod(tree, 0o755);
    t.equal((await viaSsh.copy(tree, "modes/tree")).transferred, true);
    await chmod(tree, 0o750);
    t.equal((await viaSsh.copy(tree, "modes/tree")).transferred, true, "the root's mode is part of the tree's identity");
    t.equal(await mode("modes/tree"), "750");
  });

  t.test("cloud.copy keeps the inbox fast path for localhost agents", async (t) => {
    const local = join(await tempHome(t), "fast.bin");
    await writeFile(local, randomBytes(100_000));
    const result = await fleet.cloud.copy(fleet.cloud.agents, local, "fast/fast.bin");
    t.same(result.agents[spec.name], { remote: "fast/fast.bin", transferred: true, bytes: 100_000, via: "inbox" });
  });

  t.test("a 250-character file name can be copied", async (t) => {
    const dir = await tempHome(t);
    const name = `${"n".repeat(246)}.bin`;
    t.equal(name.length, 250);
    const local = join(dir, name);
    await writeFile(local, randomBytes(100_000));
    const hash = createHash("sha256").update(await readFile(local)).digest("hex");
    for (const [agent, remote] of [[viaSsh, `long-ssh/${name}`], [viaInbox, `long-inbox/${name}`]] as const) {
      const result = await agent.copy(local, remote);
      t.equal(result.transferred, true, `${result.via}: copied`);
      t.equal((await viaSsh.exec(["sha256sum", remote])).stdout.split(" ")[0], hash);
      t.equal((await viaSsh.exec(`ls -A ${remote.split("/")[0]}`)).stdout.trim(), name, `${result.via}: no partial file left beside it`);
    }
  });

  t.test("a large file goes over SSH in parts and hashes as a whole", async (t) => {
    const dir = await tempHome(t);
    const local = join(dir, "large.bin");
    await writeFile(local, randomBytes((40 << 20) + 12345));
    const hash = createHash("sha256").update(await readFile(local)).digest("hex");
    // A larger partial file left by an earlier, failed copy: the parts must not keep its tail.
    await viaSsh.exec("mkdir -p parts && head -c 50000000 /dev/zero > parts/.fieldtest-stale");
    await viaSsh.exec(`mv parts/.fieldtest-stale ${quoteArg(partialPath("parts/large.bin"))}`);
    t.equal((await viaSsh.copy(local, "parts/large.bin")).via, "ssh");
    t.equal((await viaSsh.exec(["sha256sum", "parts/large.bin"])).stdout.split(" ")[0], hash, "same bytes, no stale tail");
    // A runner with a cold hash cache computes the content hash its own way: the manifest must agree.
    const fresh = await Cloud.connect({ ...fleet.inventory, agents: [remoteSpec] }, { privateKey, logSink: () => {} });
    t.teardown(() => fresh.close());
    t.equal((await fresh.agents[0]!.copy(local, "parts/large.bin")).transferred, false, "the hash from the parts is the file's content hash");
  });

  t.test("a part cut mid-stream over SSH: the copy fails and neither the file nor its manifest is replaced", async (t) => {
    const dir = await tempHome(t);
    const local = join(dir, "cut.bin");
    const remote = "cut/cut.bin";
    await writeFile(local, "the old content\n");
    t.equal((await viaSsh.copy(local, remote)).transferred, true);
    await writeFile(local, randomBytes(64 << 20));
    // Kills one part's dd once the partial file holds 1 MiB, while the others are still writing.
    const cut = viaSsh.exec(
      `p=${quoteArg(partialPath(remote))}; for i in $(seq 2000); do s=$(stat -c %s "$p" 2>/dev/null || echo 0); ` +
        `[ "$s" -ge 1048576 ] && exec pkill -KILL -n -f '^dd of=.*fieldtest-.*partial'; sleep 0.005; done; exit 1`,
    );
    const copying = viaSsh.copy(local, remote).then(
      () => undefined,
      (error: unknown) => error,
    );
    await cut;
    t.match(String(await copying), /copy of .*cut\.bin to cut\/cut\.bin failed/, "the copy reports the cut part");
    t.equal((await viaSsh.exec(["cat", remote])).stdout, "the old content\n", "the old file is in place");
    t.equal((await viaSsh.copy(local, remote)).transferred, true, "the manifest still names the old content: the next copy sends it");
    t.equal((await viaSsh.exec(["sha256sum", remote])).stdout.split(" ")[0], createHash("sha256").update(await readFile(local)).digest("hex"));
  });

  t.test("a failed inbox staging switches to SSH and says why, once", async (t) => {
    const elsewhere = await tempHome(t);
    const lines: LogLine[] = [];
    const missing = join(elsewhere, "no-such-inbox");
    const inventory = { ...fleet.inventory, agents: [{ ...spec, inbox: { hostPath: missing, agentPath: spec.inbox!.agentPath } }] };
    const cloud = await Cloud.connect(inventory, { privateKey, logSink: (line) => lines.push(line) });
    t.teardown(() => cloud.close());
    const local = join(elsewhere, "data.bin");
    await writeFile(local, randomBytes(10_000));
    const results = [await cloud.agents[0]!.copy(local, "staging/a.bin"), await cloud.agents[0]!.copy(local, "staging/b.bin")];
    t.same(results.map((r) => r.via), ["ssh", "ssh"]);
    const said = lines.filter((l) => l.daemon === "copy");
    t.equal(said.length, 1, "said once, not at every copy");
    t.match(said[0], { agent: spec.name, stream: "stderr" });
    t.match(said[0]?.line, new RegExp(`inbox cannot be used \\(staging .*data\\.bin in ${missing} failed: ENOENT.*later copies go over SSH`));
  });
}
