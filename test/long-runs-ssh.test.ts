// A detached run on an SSH-hosts namespace: its runner is an orchestrator container on the
// namespace's first host, reached through that host's Docker engine. The host is a real sshd on
// a loopback port started by this test, whose engine is this machine's (as in ssh-hosts.test.ts).
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { hostNamespaceDir } from "../src/orchestrator/staging.ts";
import { cleanupNamespace, containerCount, detachInGroup, killGroup, requireDocker, ROOT, runCli, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";
import { requireSshd, startSshd } from "./helpers/sshd.ts";

const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "long-run.mts");

const docker = await requireDocker(t);
const haveSshd = await requireSshd(t);

if (docker && haveSshd) {
  /** An SSH host of the test's own, a namespace with two agents on it, and the namespace's state on the host removed at the end. */
  const sshFleet = async (t: Test, ttl: string) => {
    const home = await tempHome(t);
    const { port, dir, log: sshdLog } = await startSshd(t, join(home, "host"));
    const namespace = uniqueNamespace("lrs");
    cleanupNamespace(t, docker, namespace);
    // The sshd's user is this machine's, so the host's state is under this user's home.
    const hostDir = hostNamespaceDir(homedir(), namespace);
    t.teardown(() => rm(hostDir, { recursive: true, force: true }));
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
    const host = `root@127.0.0.1:${port}`;
    const up = await runCli(["up", "--ssh-host", host, "--ssh-key", join(dir, "operator_key"), "--ssh-known-hosts", join(dir, "known_hosts"), "--namespace", namespace, "--vms", "2", "--ttl", ttl], env);
    t.equal(up.code, 0, up.stderr + sshdLog());
    return { home, namespace, hostDir, env, host };
  };

  t.test("a detached run on SSH hosts runs in an orchestrator container on the first host", async (t) => {
    const { home, namespace, hostDir, env, host } = await sshFleet(t, "10m");

    // Files of this machine named on the command line would not be on the host: refused, nothing started.
    const params = join(home, "params.json");
    await writeFile(params, "{}\n");
    const refused = await runCli(["run", SCENARIO, "--namespace", namespace, "--detach", "--params", params], env);
    t.equal(refused.code, 2, refused.stderr);
    t.match(refused.stderr, /--detach on SSH hosts cannot take files of this machine yet \(.*params\.json\)/);
    t.equal(await stat(hostDir).then(() => true, () => false), false, "nothing was staged for a refused run");

    const detached = await detachInGroup(t, ["run", SCENARIO, "--namespace", namespace, "--detach", "--daemon-output", "errors", "--json"], { ...env, LONG_RUN_SECONDS: "8" });
    t.equal(detached.code, 0, detached.stderr);
    const started = JSON.parse(detached.stdout) as { runId: string; runDir: string; container: string; host: string };
    t.equal(started.host, host);
    t.equal(started.runDir, join(hostDir, "runs", namespace, started.runId), "the run directory is in the namespace's state on the host");
    t.match(detached.stderr, /fieldtest and the scenario staged in .* \(\d+ bytes sent\), node in .* \(\d+ bytes sent\)/);
    t.equal(killGroup(detached.pgid), false, "the command left no process of its own on this machine");

    // The runner is a container of the namespace on the host's engine, running the staged bundle and node.
    const info = await docker.getContainer(started.container).inspect();
    const agent = (await docker.listContainers({ filters: { label: [`fieldtest-namespace=${namespace}`, "fieldtest-agent=agent-001"] } }))[0];
    t.match(info.Config.Labels, { "fieldtest-namespace": namespace, "fieldtest-role": "orchestrator", "fieldtest-run": started.runId, "fieldtest-owner": agent?.Labels["fieldtest-owner"], "fieldtest-expires-at": agent?.Labels["fieldtest-expires-at"] });
    const binds = info.HostConfig.Binds ?? [];
    t.notOk(binds.some((bind) => bind.includes("docker.sock")), "no Docker socket");
    t.notOk(binds.some((bind) => bind.includes("node_modules") && !bind.startsWith(hostDir)), "no node_modules of this machine");
    t.ok(binds.every((bind) => bind.startsWith(`${hostDir}/`)), `every mount is in the namespace's state on the host: ${binds.join(", ")}`);
    t.match(info.Path, /^\/sbin\/docker-init|\/bin\/sh$/);
    t.match(info.Args.join(" "), new RegExp(`${hostDir}/orchestrator/[0-9a-f]+/node .*${hostDir}/orchestrator/[0-9a-f]+/fieldtest\\.mjs run ${hostDir}/orchestrator/[0-9a-f]+/scenario\\.mjs`));

    // attach follows it to the end from here; runs and fetch-run see it through the fleet.
    const followed = await runCli(["attach", "--namespace", namespace], env);
    t.equal(followed.code, 0, followed.stderr);
    t.match(followed.stderr, new RegExp(`run ${started.runId} passed`));
    t.match(followed.stdout, /\[scenario\/log\] step \d+/);
    const runs = await runCli(["runs", "--namespace", namespace, "--json"], env);
    t.match((JSON.parse(runs.stdout) as { id: string }[]).find((r) => r.id === started.runId), { result: "passed", agents: ["agent-001", "agent-002"], phase: "done" });
    const fetched = await runCli(["fetch-run", "--namespace", namespace], env);
    t.equal(fetched.code, 0, fetched.stderr);
    const local = fetched.stdout.trim();
    t.equal(local, join(home, "runs", namespace, started.runId));
    for (const file of ["history.jsonl", "result.json", "status.json", "console.log", "logs/agent-001-ticker.log"]) t.ok(await stat(join(local, file)).catch(() => undefined), `fetched ${file}`);
    t.equal(await readFile(join(local, "history.jsonl"), "utf8"), await readFile(join(started.runDir, "history.jsonl"), "utf8"), "the fetched history is the orchestrator's");
    t.match(JSON.parse(await readFile(join(local, "result.json"), "utf8")), { status: "passed", checks: { valid: true } });
    await waitFor("the orchestrator to remove itself", async () => ((await docker.getContainer(started.container).inspect().then(() => false, () => true)) ? true : undefined), 20_000, 200);

    // A second run sends nothing it sent before.
    const again = await detachInGroup(t, ["run", SCENARIO, "--namespace", namespace, "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "60" });
    t.equal(again.code, 0, again.stderr);
    t.match(again.stderr, /staged in .* \(0 bytes sent\), node in .* \(0 bytes sent\)/);
    const { container } = JSON.parse(again.stdout) as { container: string };
    // Figures for the report, not a bound: what staging costs the first time and saves the next.
    t.comment(`run --detach took ${detached.ms} ms with everything sent, ${again.ms} ms with nothing to send`);

    // destroy removes the running orchestrator with the agents, and the namespace's state on the host.
    const destroy = await runCli(["destroy", "--namespace", namespace], env);
    t.equal(destroy.code, 0, destroy.stderr);
    await waitFor("every container of the namespace to go", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 20_000, 200);
    t.equal(await docker.getContainer(container).inspect().then(() => true, () => false), false, "the orchestrator is gone");
    t.equal(await stat(hostDir).then(() => true, () => false), false, "the host's staging and run directories are gone");
  });

  t.test("at the TTL a detached run's orchestrator goes with the agents; reap then removes the namespace's state on the host", async (t) => {
    const { namespace, hostDir, env } = await sshFleet(t, "40s");
    const detached = await detachInGroup(t, ["run", SCENARIO, "--namespace", namespace, "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "600" });
    t.equal(detached.code, 0, detached.stderr);
    const { container } = JSON.parse(detached.stdout) as { container: string };
    const owner = (await docker.getContainer(container).inspect()).Config.Labels["fieldtest-owner"]!;
    await waitFor("the TTL to remove agents and orchestrator", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 120_000, 500);
    t.ok(await stat(hostDir).catch(() => undefined), "the staged files and the run directory outlive the containers");
    const reap = await runCli(["reap", "--owner", owner, "--json"], env);
    t.equal(reap.code, 0, reap.stderr);
    t.same((JSON.parse(reap.stdout) as { states: string[] }).states, [namespace], "the expired namespace's state is removed");
    t.equal(await stat(hostDir).then(() => true, () => false), false, "with the namespace's state on the host");
  });
}
