// A detached run on an SSH-hosts namespace: its runner is an orchestrator container on the
// namespace's first host, reached through that host's Docker engine. The host is a real sshd on
// a loopback port started by this test, whose engine is this machine's (as in ssh-hosts.test.ts).
import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import t, { type Test } from "tap";
import { hostNamespaceDir } from "../src/transport/host-state.ts";
import { cleanupNamespace, containerCount, detachInGroup, killGroup, liveGroupMembers, requireDocker, ROOT, runCli, startCli, tempHome, uniqueNamespace, waitFor, waitForOutput } from "./helpers/fleet.ts";
import { requireSshd, startSshd } from "./helpers/sshd.ts";

const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "long-run.mts");

const docker = await requireDocker(t);
const haveSshd = await requireSshd(t);

if (docker && haveSshd) {
  /** An SSH host of the test's own, a namespace with two agents on it, and the namespace's state on the host removed at the end. */
  const sshFleet = async (t: Test, ttl: string, upArgs: string[] = []) => {
    const home = await tempHome(t);
    const { port, dir, log: sshdLog } = await startSshd(t, join(home, "host"));
    const namespace = uniqueNamespace("lrs");
    cleanupNamespace(t, docker, namespace);
    // The sshd's user is this machine's, so the host's state is under this user's home.
    const hostDir = hostNamespaceDir(homedir(), namespace);
    t.teardown(() => rm(hostDir, { recursive: true, force: true }));
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
    const host = `root@127.0.0.1:${port}`;
    const up = await runCli(["up", "--ssh-host", host, "--ssh-key", join(dir, "operator_key"), "--ssh-known-hosts", join(dir, "known_hosts"), "--namespace", namespace, "--vms", "2", "--ttl", ttl, ...upArgs], env);
    t.equal(up.code, 0, up.stderr + sshdLog());
    return { home, namespace, hostDir, env, host };
  };

  t.test("a detached run on SSH hosts runs in an orchestrator container on the first host", async (t) => {
    const { home, namespace, hostDir, env, host } = await sshFleet(t, "10m");

    // A file the command line names that cannot be read here: refused, nothing staged.
    const missing = await runCli(["run", SCENARIO, "--namespace", namespace, "--detach", "--params", join(home, "missing.json")], env);
    t.equal(missing.code, 2, missing.stderr);
    t.match(missing.stderr, /--params .*missing\.json cannot be read/);
    t.equal(await stat(hostDir).then(() => true, () => false), false, "nothing was staged for a refused run");

    // --params names a file of this machine, relative to the working directory: it goes with the run.
    const params = join(home, "params.json");
    await writeFile(params, `${JSON.stringify({ label: "from-the-params-file" })}\n`);
    const runArgs = ["run", SCENARIO, "--namespace", namespace, "--detach", "--params", relative(ROOT, params), "--website", "--daemon-output", "errors", "--json"];
    const detached = await detachInGroup(t, runArgs, { ...env, LONG_RUN_SECONDS: "15" });
    t.equal(detached.code, 0, detached.stderr);
    const started = JSON.parse(detached.stdout) as { runId: string; runDir: string; container: string; host: string };
    t.equal(started.host, host);
    t.equal(started.runDir, join(hostDir, "runs", namespace, started.runId), "the run directory is in the namespace's state on the host");
    t.match(detached.stderr, /fieldtest and the scenario staged in .* \(\d+ bytes sent\), node in .* \(\d+ bytes sent\)/);
    t.match(detached.stderr, /--params staged in .* \(\d+ bytes sent\)/);
    t.same(await liveGroupMembers(detached.pgid), [], "the command left no process of its own on this machine");

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
    // The runner reads the staged copy of the params file, mounted read-only, owner-only on the host.
    const paramsOnHost = new RegExp(`--params (${hostDir}/orchestrator/[0-9a-f]+)/1-params\\.json`).exec(info.Args.join(" "));
    t.ok(paramsOnHost, `the runner's --params is on the host: ${info.Args.join(" ")}`);
    t.notOk(info.Args.includes(relative(ROOT, params)), "the local path is not passed on");
    t.ok(binds.includes(`${paramsOnHost![1]}:${paramsOnHost![1]}:ro`), "the params file's directory is mounted read-only");
    t.equal((await stat(join(paramsOnHost![1]!, "1-params.json"))).mode & 0o777, 0o600, "owner-only on the host");

    // The run's website, on the host's loopback, is reachable from here through the first agent's SSH.
    const website = startCli(["website", "--namespace", namespace], env);
    t.teardown(() => void website.kill("SIGKILL"));
    await waitForOutput(website, /http:\/\/127\.0\.0\.1:\d+\n/, "fieldtest website to print its URL", 30_000);
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(website.output())![0];
    const state = (await (await fetch(`${url}/api/state`)).json()) as { runId: string; namespace: string };
    t.match(state, { runId: started.runId, namespace }, "the page through the tunnel is the detached run's");
    const page = await fetch(`${url}/`);
    t.equal(page.status, 200, "the website's page too");
    await page.text();
    const websiteExit = new Promise<number | null>((resolve) => website.once("exit", (code) => resolve(code)));
    website.kill("SIGINT");
    t.equal(await websiteExit, 0, "Ctrl+C ends the tunnel");

    // attach follows it to the end from here; runs and fetch-run see it through the fleet.
    const followed = await runCli(["attach", "--namespace", namespace], env);
    t.equal(followed.code, 0, followed.stderr);
    t.match(followed.stderr, new RegExp(`run ${started.runId} passed`));
    t.match(followed.stdout, /\[scenario\/log\] step \d+/);
    t.match(followed.stdout, /\[scenario\/log\] label from-the-params-file/, "the scenario got the value of the params file");
    const ended = await runCli(["website", "--namespace", namespace, "--run", started.runId], env);
    t.equal(ended.code, 2, "no website for a run that has ended");
    t.match(ended.stderr, /has ended \(passed\) and its website with it/);
    const runs = await runCli(["runs", "--namespace", namespace, "--json"], env);
    t.match((JSON.parse(runs.stdout) as { id: string }[]).find((r) => r.id === started.runId), { result: "passed", agents: ["agent-001", "agent-002"], phase: "done", website: { scheme: "http", host: "127.0.0.1" } });
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

  t.test("on the namespace's own network, the orchestrator reaches the first host's agents on it, and its website from here", async (t) => {
    const { namespace, env } = await sshFleet(t, "10m", ["--network", "own"]);
    const detached = await detachInGroup(t, ["run", SCENARIO, "--namespace", namespace, "--detach", "--website", "--json"], { ...env, LONG_RUN_SECONDS: "8" });
    t.equal(detached.code, 0, detached.stderr);
    const { runId } = JSON.parse(detached.stdout) as { runId: string };
    const website = startCli(["website", "--namespace", namespace], env);
    t.teardown(() => void website.kill("SIGKILL"));
    await waitForOutput(website, /http:\/\/127\.0\.0\.1:\d+\n/, "fieldtest website to print its URL", 30_000);
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(website.output())![0];
    t.match(await (await fetch(`${url}/api/state`)).json(), { runId }, "the website in the container, through the first agent");
    website.kill("SIGINT");
    const followed = await runCli(["attach", "--namespace", namespace], env);
    t.equal(followed.code, 0, followed.stderr);
    t.match(followed.stderr, new RegExp(`run ${runId} passed`), "the runner reached both agents on the namespace's network");
  });

  t.test("at the TTL the host's engine reaper removes a detached run's orchestrator, its parent killed; reap then removes the namespace's state on the host", async (t) => {
    const { namespace, hostDir, env } = await sshFleet(t, "40s");
    const detaching = detachInGroup(t, ["run", SCENARIO, "--namespace", namespace, "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "600" });
    const orchestrators = { label: [`fieldtest-namespace=${namespace}`, "fieldtest-role=orchestrator"] };
    const container = await waitFor("the orchestrator to run", async () => (await docker.listContainers({ filters: orchestrators }))[0]?.Id, 120_000, 100);
    // kill -9 of the local parent as soon as the orchestrator runs (usually before it returned).
    t.comment(`the parent ${killGroup(detaching.pgid) ? "was killed while it waited for the run" : "had returned already"}`);
    await detaching;
    const info = await docker.getContainer(container).inspect();
    const expiresAt = Number(info.Config.Labels["fieldtest-expires-at"]) * 1000;
    const owner = info.Config.Labels["fieldtest-owner"]!;
    // Frozen, the runner cannot end itself at the TTL: only the host's engine reaper can remove it.
    await docker.getContainer(container).pause();
    const gone = await waitFor("the reaper to remove the orchestrator", async () => ((await docker.getContainer(container).inspect().then(() => false, () => true)) ? Date.now() : undefined), expiresAt - Date.now() + 90_000, 250);
    // The reaper looks every 2 s (src/targets/docker-engine/reaper.ts); 30 s of margin for a machine other suites load.
    t.ok(gone >= expiresAt - 1000, `not before the TTL (${gone - expiresAt} ms after it)`);
    t.ok(gone <= expiresAt + 30_000, `within the TTL + 30 s: ${gone - expiresAt} ms after it`);
    const agentsGone = await waitFor("the agents to go at the TTL", async () => ((await containerCount(docker, namespace)) === 0 ? Date.now() : undefined), 60_000, 250);
    t.ok(agentsGone <= expiresAt + 30_000, `the agents within the TTL + 30 s: ${agentsGone - expiresAt} ms after it`);
    t.comment(`orchestrator removed ${gone - expiresAt} ms after the TTL, agents gone ${agentsGone - expiresAt} ms after it`);
    t.ok(await stat(hostDir).catch(() => undefined), "the staged files and the run directory outlive the containers");
    const reap = await runCli(["reap", "--owner", owner, "--json"], env);
    t.equal(reap.code, 0, reap.stderr);
    t.same((JSON.parse(reap.stdout) as { states: string[] }).states, [namespace], "the expired namespace's state is removed");
    t.equal(await stat(hostDir).then(() => true, () => false), false, "with the namespace's state on the host");
  });
}
