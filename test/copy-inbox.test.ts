import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { Cloud } from "../src/runtime/cloud.ts";
import { requireDocker, tempHome, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1, { inbox: true });
  const [agent] = fleet.cloud.agents;
  const spec = fleet.inventory.agents[0]!;
  const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");
  const remoteSha256 = async (on: typeof agent, path: string) => (await on!.exec(["sha256sum", path])).stdout.split(" ")[0];

  t.test("a localhost agent receives files through the inbox it mounts", async (t) => {
    t.same(spec.inbox, { hostPath: fleet.state.inboxPath, agentPath: "/run/fieldtest-inbox" });
    const dir = await tempHome(t);
    const local = join(dir, "tool");
    await writeFile(local, randomBytes(3 << 20));
    await chmod(local, 0o750);
    const first = await agent!.copy(local, "inbox/tool");
    t.same({ transferred: first.transferred, bytes: first.bytes, via: first.via }, { transferred: true, bytes: 3 << 20, via: "inbox" });
    t.equal(await remoteSha256(agent, "inbox/tool"), await sha256(local), "same bytes on the agent");
    t.equal((await agent!.exec(["stat", "-c", "%a", "inbox/tool"])).stdout.trim(), "750", "mode kept");
    t.same(await readdir(fleet.state.inboxPath), [], "nothing is left staged");
    t.equal((await agent!.copy(local, "inbox/tool")).transferred, false, "unchanged: skipped, as over SSH");

    await writeFile(local, randomBytes(1000));
    const again = await agent!.copy(local, "inbox/tool");
    t.equal(again.via, "inbox");
    t.equal(await remoteSha256(agent, "inbox/tool"), await sha256(local), "changed content replaces the old");

    const link = join(dir, "link-to-tool");
    await symlink(local, link);
    t.equal((await agent!.copy(link, "inbox/linked")).via, "inbox", "a symlink sends its target");
    t.equal(await remoteSha256(agent, "inbox/linked"), await sha256(local));
  });

  t.test("an agent that cannot see the inbox gets the file over SSH", async (t) => {
    // The inventory as another machine would read it: the path exists there, but is not what the agent mounts.
    const elsewhere = await tempHome(t);
    await mkdir(join(elsewhere, "inbox"));
    for (const hostPath of [join(elsewhere, "inbox"), join(elsewhere, "missing")]) {
      const inventory = { ...fleet.inventory, agents: [{ ...spec, inbox: { hostPath, agentPath: spec.inbox!.agentPath } }] };
      const cloud = await Cloud.connect(inventory, { privateKey: (await fleet.state.clientKey()).privateKey, logSink: () => {} });
      t.teardown(() => cloud.close());
      const local = join(elsewhere, "data.bin");
      await writeFile(local, randomBytes(200_000));
      const results = [await cloud.agents[0]!.copy(local, "fallback/a.bin"), await cloud.agents[0]!.copy(local, "fallback/b.bin")];
      t.same(results.map((r) => r.via), ["ssh", "ssh"], `inbox at ${hostPath}: SSH carried both copies`);
      t.equal(await remoteSha256(cloud.agents[0], "fallback/b.bin"), await sha256(local));
      t.same(await readdir(join(elsewhere, "inbox")), [], "nothing is left staged");
    }
  });
}
