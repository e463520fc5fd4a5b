// The checks of src/core/private-file.ts alone, for what the end-to-end test
// (security-local-user) does not reach: a state directory or key writable by its group only,
// which another member of the group could replace as surely as anyone with a 777 directory.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { assertPrivateDir, readPrivateFile, UnsafeStateError } from "../src/core/private-file.ts";

t.test("a group-writable state directory or file is refused; owner-only ones are read", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "fieldtest-private-"));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, "state");
  await mkdir(dir);
  await chmod(dir, 0o770);
  await t.rejects(assertPrivateDir(dir), new UnsafeStateError(`the state directory ${dir} is writable by its group or by everyone (mode 770): run \`chmod go-w ${dir}\` if its content is yours, or remove it`));
  await chmod(dir, 0o750);
  await t.resolves(assertPrivateDir(dir), "group-readable is fine: only writing is a threat");

  const key = join(dir, "id_ed25519");
  await writeFile(key, "key\n");
  await chmod(key, 0o620);
  await t.rejects(readPrivateFile(key), /the state file .*id_ed25519 is writable by its group or by everyone \(mode 620\)/);
  await chmod(key, 0o600);
  t.equal(await readPrivateFile(key), "key\n");
});
