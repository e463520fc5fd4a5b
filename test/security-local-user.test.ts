// Issue 23, item 3: another local user who can write a shared FIELDTEST_HOME must not get their
// key used for the agents. The other user is a real one, made with useradd; the victim runs the
// real `fieldtest up`.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { cleanupNamespace, containerCount, requireDocker, runCli, uniqueNamespace } from "./helpers/fleet.ts";

t.test("up refuses a state directory or key another user could have planted", async (t) => {
  if (process.getuid?.() !== 0) return t.plan(0, "making a second local user needs root");
  const docker = await requireDocker(t);
  if (!docker) return;
  const user = `ftsec${randomBytes(3).toString("hex")}`;
  execFileSync("useradd", ["--no-create-home", "--shell", "/bin/sh", user]);
  t.teardown(() => execFileSync("userdel", [user]));
  // A shared directory, as /tmp is: anyone may create in it.
  const shared = await mkdtemp(join(tmpdir(), "fieldtest-shared-"));
  await chmod(shared, 0o1777);
  t.teardown(() => rm(shared, { recursive: true, force: true }));
  const up = (home: string, namespace: string) => runCli(["up", "--localhost", "--namespace", namespace, "--vms", "1", "--ttl", "2m"], { FIELDTEST_HOME: home });

  await t.test("the other user made the namespace's directory and planted a key", async (t) => {
    const home = join(shared, "home");
    const namespace = uniqueNamespace("sec");
    cleanupNamespace(t, docker, namespace);
    const dir = join(home, "namespaces", namespace);
    execFileSync("runuser", ["-u", user, "--", "sh", "-c", `mkdir -p ${dir} && chmod 777 ${home} ${home}/namespaces ${dir} && ssh-keygen -q -t ed25519 -N '' -f ${dir}/id_ed25519`]);
    const result = await up(home, namespace);
    t.equal(result.code, 2, result.stderr);
    t.match(result.stderr, /belongs to uid \d+, not to this user/);
    t.equal(await containerCount(docker, namespace), 0, "no agent trusts the planted key");
  });

  await t.test("a group- or world-writable state directory of this user", async (t) => {
    const home = await mkdtemp(join(shared, "mine-"));
    const namespace = uniqueNamespace("sec");
    cleanupNamespace(t, docker, namespace);
    await mkdir(join(home, "namespaces", namespace), { recursive: true });
    await chmod(join(home, "namespaces"), 0o777);
    const result = await up(home, namespace);
    t.equal(result.code, 2, result.stderr);
    t.match(result.stderr, /writable by its group or by everyone \(mode 777\)/);
    t.equal(await containerCount(docker, namespace), 0);
  });

  await t.test("a key that is a symlink to another user's file", async (t) => {
    const home = await mkdtemp(join(shared, "mine-"));
    const namespace = uniqueNamespace("sec");
    cleanupNamespace(t, docker, namespace);
    const planted = join(shared, `planted-${namespace}`);
    execFileSync("runuser", ["-u", user, "--", "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", planted]);
    await mkdir(join(home, "namespaces", namespace), { recursive: true, mode: 0o700 });
    await symlink(planted, join(home, "namespaces", namespace, "id_ed25519"));
    const result = await up(home, namespace);
    t.equal(result.code, 2, result.stderr);
    t.match(result.stderr, /is a symlink/);
    t.equal(await containerCount(docker, namespace), 0);
  });
});
