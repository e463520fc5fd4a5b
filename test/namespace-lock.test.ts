// One up or extend of a namespace at a time: a second one would rewrite the stack's config under
// the first. A lock left by a process that died is taken over.
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import t from "tap";
import { lockNamespace } from "../src/targets/pulumi/namespace-lock.ts";
import { tempHome } from "./helpers/fleet.ts";

t.test("a second lock of the same namespace is refused until the first is released", async (t) => {
  const home = await tempHome(t);
  const first = await lockNamespace(home, "alice", "up --cloud");
  await t.rejects(lockNamespace(home, "alice", "up --cloud"), { message: new RegExp(`namespace alice is busy: process ${process.pid} has held it since [^]*Nothing was changed by up --cloud`) });
  const other = await lockNamespace(home, "bob", "up --cloud");
  await first.release();
  const again = await lockNamespace(home, "alice", "extend");
  await again.release();
  await other.release();
});

t.test("a lock whose process died on this host is taken over", async (t) => {
  const home = await tempHome(t);
  const gone = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
  await (await lockNamespace(home, "alice", "up")).release();
  const path = join(home, "locks", "alice.lock");
  await writeFile(path, JSON.stringify({ pid: gone, host: hostname(), since: "2030-01-01T00:00:00.000Z" }));
  const lock = await lockNamespace(home, "alice", "up");
  t.match(JSON.parse(await readFile(path, "utf8")), { pid: process.pid });
  await lock.release();
});
