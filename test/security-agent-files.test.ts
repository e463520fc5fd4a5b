// Issue 23, item 1: what a compromised agent plants in the runs mirror must not become a path on
// the runner's machine. The attacks are commands run in a real agent container; the victim is
// run by the real `fieldtest fetch-run` and the real download behind `collectOnFailure`.
import t from "tap";
import { lstat, mkdtemp, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { requireDocker, runCli, testFleet } from "./helpers/fleet.ts";

const exists = (path: string) => lstat(path).then(() => true, () => false);

/** A status the runner would pick: running, updated a day ahead. */
function plantedStatus(id: string, namespace: string): string {
  const later = new Date(Date.now() + 86_400_000).toISOString();
  return JSON.stringify({
    id, namespace, scenario: "evil", phase: "running", result: "running", startedAt: later, updatedAt: later, expiresAt: later,
    agents: ["agent-001"], detached: true, runner: { host: "x", pid: 1 }, final: false,
  });
}

t.test("fetch-run refuses what a compromised agent plants in the runs mirror", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const fleet = await testFleet(t, docker, 1);
  const [agent] = fleet.cloud.agents;
  const victim = await mkdtemp(join(fleet.home, "victim-"));
  const env = { FIELDTEST_HOME: fleet.home, FIELDTEST_RUNS_DIR: join(fleet.home, "runs") };
  // The victim's absolute path, reached from any directory by enough `..`.
  const escape = `${"../".repeat(24)}${victim.slice(1)}`;
  const sh = (script: string) => agent!.exec(["bash", "-c", script]);

  await t.test("a run id that climbs out of the runs directory", async (t) => {
    await sh(`d=$HOME/.fieldtest/runs/evil && mkdir -p "$d/${escape}" && cat > "$d/status.json" <<'EOF'
${plantedStatus(escape, fleet.namespace)}
EOF
mkdir -p "${victim}" && echo 'echo pwned' > "${victim}/.bashrc"`);
    const fetched = await runCli(["fetch-run", "--namespace", fleet.namespace], env);
    t.not(fetched.code, 0, "no run to fetch: the planted one is not a run");
    t.match(fetched.stderr, /has no run/);
    t.notOk(await exists(join(victim, ".bashrc")), "nothing written at the victim path");
    const attach = await runCli(["attach", "--namespace", fleet.namespace, "--run", escape], env);
    t.equal(attach.code, 2, "attach --run <not an id> is bad input");
    t.match(attach.stderr, /is not a run id/);
    await sh("rm -rf $HOME/.fieldtest/runs/evil");
  });

  await t.test("a file name with a newline that forges a listing line", async (t) => {
    // find prints `<size>\t<path>` a line each: the directory `x\n11\t..` makes a second line
    // whose path climbs out of the run directory, into its namespace's directory.
    const id = "20991231-235959-beef";
    await sh(`d=$HOME/.fieldtest/runs/${id} && forged="$d/x"$'\\n'"11"$'\\t'".." && mkdir -p "$forged/escaped" "$d/../escaped" && cat > "$d/status.json" <<'EOF'
${plantedStatus(id, fleet.namespace)}
EOF
echo x > "$d/x" && echo 'echo pwned' | tee "$forged/escaped/.profile" > "$d/../escaped/.profile"`);
    const fetched = await runCli(["fetch-run", "--namespace", fleet.namespace], env);
    t.not(fetched.code, 0, fetched.stderr);
    t.match(fetched.stderr, /refused the path/);
    t.notOk(await exists(join(fleet.home, "runs", fleet.namespace, "escaped", ".profile")), "nothing written outside the run directory");
    await sh(`rm -rf $HOME/.fieldtest/runs/${id}`);
  });

  await t.test("a fetched run directory is private, and a symlink in it is not written through", async (t) => {
    const id = "20991231-235959-cafe";
    await sh(`d=$HOME/.fieldtest/runs/${id} && mkdir -p "$d/logs" && cat > "$d/status.json" <<'EOF'
${plantedStatus(id, fleet.namespace)}
EOF
echo hello > "$d/logs/a.log" && ln -s /etc/passwd "$d/passwd" && mkfifo "$d/fifo"`);
    const fetched = await runCli(["fetch-run", "--namespace", fleet.namespace, "--run", id], env);
    t.equal(fetched.code, 0, fetched.stderr);
    const dir = join(fleet.home, "runs", fleet.namespace, id);
    t.same((await readdir(dir)).sort(), ["logs", "status.json"], "the symlink and the fifo are not fetched");
    t.equal((await stat(dir)).mode & 0o777, 0o700);
    t.equal((await stat(join(dir, "logs"))).mode & 0o777, 0o700);
    t.equal((await stat(join(dir, "logs", "a.log"))).mode & 0o777, 0o600);
    t.equal((await stat(join(dir, "status.json"))).mode & 0o777, 0o600);
  });

  await t.test("download of a tree: symlinks, devices and oversized trees are refused", async (t) => {
    await sh("rm -rf /srv/loot && mkdir -p /srv/loot/sub && echo data > /srv/loot/sub/f && ln -s /etc/shadow /srv/loot/link && ln -s / /srv/loot/root && mkfifo /srv/loot/fifo && chmod 4755 /srv/loot/sub/f");
    const local = join(await mkdtemp(join(fleet.home, "dl-")), "loot");
    await agent!.download("/srv/loot", local);
    t.same((await readdir(local)).sort(), ["sub"], "only the regular file and its directory");
    t.equal((await stat(join(local, "sub", "f"))).mode & 0o7777, 0o600, "no setuid bit, owner-only");
    await t.rejects(agent!.download("/srv/loot", join(local, "again"), { files: 1, bytes: 1 << 20 }), /more than 1 files/);
  });
});
