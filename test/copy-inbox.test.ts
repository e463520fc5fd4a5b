import { createHash, randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import { chmod, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { Cloud } from "../src/runtime/cloud.ts";
import { requireDocker, ROOT, tempHome, testFleet } from "./helpers/fleet.ts";

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

  t.test("a directory goes through the inbox and arrives as tar would make it", async (t) => {
    const dir = await tempHome(t);
    const tree = join(dir, "tree");
    await mkdir(join(tree, "bin"), { recursive: true });
    await mkdir(join(tree, "empty"));
    await mkdir(join(tree, "sealed"));
    await writeFile(join(tree, "bin", "tool"), randomBytes(100_000));
    await chmod(join(tree, "bin", "tool"), 0o750);
    await writeFile(join(tree, "config.toml"), "port = 1\n");
    await chmod(join(tree, "config.toml"), 0o640);
    await writeFile(join(tree, "sealed", "key"), "secret\n");
    await symlink("bin/tool", join(tree, "tool"));
    await chmod(join(tree, "bin"), 0o750);
    await chmod(join(tree, "sealed"), 0o555);
    t.teardown(() => chmod(join(tree, "sealed"), 0o755));

    const first = await agent!.copy(tree, "trees/inbox");
    t.same({ transferred: first.transferred, via: first.via, bytes: first.bytes }, { transferred: true, via: "inbox", bytes: 100_000 + 9 + 7 });
    t.same(await readdir(fleet.state.inboxPath), [], "nothing is left staged, read-only directory included");
    t.equal((await agent!.copy(tree, "trees/inbox")).transferred, false, "unchanged tree: skipped");

    // The same tree over SSH (tar), from a runner that cannot share the inbox.
    const { inbox: _none, ...plain } = spec;
    const remote = await Cloud.connect({ ...fleet.inventory, agents: [plain] }, { privateKey: (await fleet.state.clientKey()).privateKey, logSink: () => {} });
    t.teardown(() => remote.close());
    t.equal((await remote.agents[0]!.copy(tree, "trees/ssh")).via, "ssh");
    const listing = async (root: string) =>
      (await agent!.exec(`cd ${root} && find . -printf '%P %y %s %m %l\n' | LC_ALL=C sort && find . -type f -exec sha256sum {} + | LC_ALL=C sort`)).stdout;
    const viaInbox = await listing("trees/inbox");
    t.equal(viaInbox, await listing("trees/ssh"), "names, types, sizes, modes, link targets and contents match the tar copy");
    t.match(viaInbox, /^sealed d \d+ 555 $/m, "a read-only directory keeps its mode");
    t.match(viaInbox, /^tool l \d+ 777 bin\/tool$/m, "a symlink stays a symlink");

    await writeFile(join(tree, "config.toml"), "port = 2\n");
    const again = await agent!.copy(tree, "trees/inbox");
    t.same({ transferred: again.transferred, via: again.via }, { transferred: true, via: "inbox" }, "a changed tree is sent again");
    t.equal((await agent!.exec(["cat", "trees/inbox/config.toml"])).stdout, "port = 2\n");
  });

  t.test("an unprivileged runner copies a tree with a read-only directory and cleans its staging", async (t) => {
    // Tests run as root here, which no permission stops; most users are not root. Root without
    // capabilities (setpriv, from util-linux) meets permissions as an ordinary owner does, and
    // still reads this checkout wherever it is.
    const unprivileged = process.getuid?.() === 0 ? ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", process.execPath] : [process.execPath];
    const dir = await tempHome(t);
    const tree = join(dir, "tree");
    await mkdir(join(tree, "sealed"), { recursive: true });
    await writeFile(join(tree, "sealed", "key"), "secret\n");
    await writeFile(join(dir, "inventory.json"), JSON.stringify(fleet.inventory));
    await writeFile(join(dir, "key"), (await fleet.state.clientKey()).privateKey, { mode: 0o600 });
    await chmod(join(tree, "sealed"), 0o555);
    t.teardown(() => chmod(join(tree, "sealed"), 0o755));
    const [program, ...prefix] = unprivileged as [string, ...string[]];
    const fixture = [join(ROOT, "test/fixtures/copy-as-user.ts"), join(dir, "inventory.json"), join(dir, "key"), tree, "trees/unprivileged"];
    const { stdout } = await promisify(execFile)(program, [...prefix, "--import=tsx", ...fixture], { cwd: ROOT, timeout: 30_000 });
    t.match(JSON.parse(stdout), { transferred: true, via: "inbox" });
    t.same(await readdir(fleet.state.inboxPath), [], "the read-only staged directory was removed");
    t.equal((await agent!.exec(["cat", "trees/unprivileged/sealed/key"])).stdout, "secret\n");
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
