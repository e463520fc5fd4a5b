// openInside alone, for the race the end-to-end test (security-agent-files) cannot stage: fetch-run
// lists regular files only, so a symlink there is never opened. A compromised agent can still swap
// a listed file for a symlink before the runner opens it; the open itself must not follow it.
import { lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { openInside } from "../src/core/safe-path.ts";

t.test("openInside writes through no symlink, of the file or of a directory on its way", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "fieldtest-safe-path-"));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const victim = join(root, "victim");
  await writeFile(victim, "mine\n");
  const run = join(root, "run");
  await mkdir(join(run, "logs"), { recursive: true });
  await symlink(victim, join(run, "logs", "a.log"));
  await symlink(root, join(run, "up"));

  for (const mode of ["truncate", "append"] as const) {
    await t.rejects(openInside(run, "logs/a.log", mode), /refused to write .*a\.log: it is a symlink/, `${mode}: the file is a symlink`);
  }
  await t.rejects(openInside(run, "up/victim", "truncate"), /refused to write under .*up: it is not a directory/, "a directory on the way is a symlink");
  t.equal(await readFile(victim, "utf8"), "mine\n", "the symlinks' target is untouched");

  const handle = await openInside(run, "logs/b.log", "truncate");
  await handle.close();
  t.equal((await lstat(join(run, "logs", "b.log"))).mode & 0o777, 0o600, "a plain file is made, owner-only");
});
