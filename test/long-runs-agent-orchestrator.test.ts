// A detached run on a fleet with an orchestrator agent (group `orchestrator`, a VM of a cloud
// namespace): its runner is a process of that agent, started over SSH. Tested without a cloud
// on a localhost namespace reached through an inventory file without inboxes, as another machine
// sees a cloud fleet: the code path is the cloud's.
import { execFile } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { NamespaceState } from "../src/targets/state.ts";
import { cleanupNamespace, detachInGroup, liveGroupMembers, requireDocker, ROOT, runCli, startCli, tempHome, uniqueNamespace, waitFor, waitForOutput } from "./helpers/fleet.ts";

const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "long-run.mts");

const docker = await requireDocker(t);

if (docker) {
  t.test("a detached run on an inventory with an orchestrator agent runs there, on the other agents only", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("lra");
    cleanupNamespace(t, docker, namespace);
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
    const up = await runCli(["up", "--localhost", "--namespace", namespace, "--vms", "2", "--group", "orchestrator=1", "--ttl", "10m"], env);
    t.equal(up.code, 0, up.stderr);

    // The inventory as another machine has it: no inboxes, which only this machine's agents mount.
    const printed = await runCli(["inventory", "--namespace", namespace], env);
    const full = JSON.parse(printed.stdout) as { agents: Array<{ name: string; inbox?: unknown }> };
    t.same(full.agents.map((a) => a.name).sort(), ["agent-001", "agent-002", "orchestrator-001"]);
    const inventoryPath = join(home, "fleet.json");
    await writeFile(inventoryPath, JSON.stringify({ ...full, agents: full.agents.map(({ inbox: _inbox, ...agent }) => agent) }));
    const remote = ["--inventory", inventoryPath, "--ssh-key", new NamespaceState(home, namespace).clientKeyPath];

    const params = join(home, "params.json");
    await writeFile(params, JSON.stringify({ label: "from-the-params-file" }));
    const detached = await detachInGroup(t, ["run", SCENARIO, ...remote, "--detach", "--daemon-output", "errors", "--params", params, "--website", "--json"], { ...env, LONG_RUN_SECONDS: "10" });
    t.equal(detached.code, 0, detached.stderr);
    const started = JSON.parse(detached.stdout) as { runId: string; agent: string; pid: number; runDir: string };
    t.equal(started.agent, "orchestrator-001");
    t.equal(started.runDir, `/root/.fieldtest/namespaces/${namespace}/runs/${namespace}/${started.runId}`, "the run directory is in the namespace's state on the agent");
    t.match(detached.stderr, /orchestrator-001: fieldtest and the scenario staged in .* \(\d+ bytes sent\), node in .* \(\d+ bytes sent\)/);
    t.same(await liveGroupMembers(detached.pgid), [], "the command left no process of its own on this machine");

    // The runner is a process of the orchestrator agent, in a session of its own, running the staged node and bundle.
    const [container] = await docker.listContainers({ filters: { label: [`fieldtest-namespace=${namespace}`, "fieldtest-agent=orchestrator-001"] } });
    const ps = (pid: number) => promisify(execFile)("docker", ["exec", container!.Id, "ps", "-o", "sid=,args=", "-p", String(pid)]).then((r) => r.stdout.trim(), () => "");
    const [sid, ...args] = (await ps(started.pid)).split(/\s+/);
    t.equal(Number(sid), started.pid, "the runner leads its own session (setsid)");
    t.match(args.join(" "), /\/orchestrator\/[0-9a-f]+\/node \S+\/fieldtest\.mjs run \S+\/scenario\.mjs .*--inventory \S+orchestrator-inventory\.json/);
    t.match(args.join(" "), /--params \/root\/\.fieldtest\/namespaces\/\S+\/orchestrator\/[0-9a-f]+\/1-params\.json/, "the params file is staged on the agent");
    t.notOk(args.includes(params), "the local path is not passed on");

    // The website is on the orchestrator agent's loopback, reached from here through that agent's SSH.
    const website = startCli(["website", ...remote], env);
    t.teardown(() => void website.kill("SIGKILL"));
    await waitForOutput(website, /http:\/\/127\.0\.0\.1:\d+\n/, "fieldtest website to print its URL", 30_000);
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(website.output())![0];
    t.match(website.output(), /from orchestrator-001\)/, "through the orchestrator agent");
    t.match(await (await fetch(`${url}/api/state`)).json(), { runId: started.runId, namespace }, "the page through the tunnel is the detached run's");
    const websiteExit = new Promise<number | null>((resolve) => website.once("exit", (code) => resolve(code)));
    website.kill("SIGINT");
    t.equal(await websiteExit, 0, "Ctrl+C ends the tunnel");

    // runs, attach and fetch-run find it through the mirror on the first scenario agent, from the inventory alone.
    const runs = await runCli(["runs", ...remote, "--json"], env);
    t.equal(runs.code, 0, runs.stderr);
    t.match((JSON.parse(runs.stdout) as { id: string }[]).find((r) => r.id === started.runId), { agents: ["agent-001", "agent-002"] });
    const followed = await runCli(["attach", ...remote], env);
    t.equal(followed.code, 0, followed.stderr);
    t.match(followed.stderr, new RegExp(`run ${started.runId} passed`));
    t.match(followed.stdout, /\[scenario\/log\] agents agent-001 agent-002\n/, "the scenario was given the two other agents");
    t.match(followed.stdout, /\[scenario\/log\] label from-the-params-file/, "and the value of the params file");
    t.notMatch(followed.stdout, /orchestrator-001/, "and never the orchestrator agent");
    const fetched = await runCli(["fetch-run", ...remote], env);
    t.equal(fetched.code, 0, fetched.stderr);
    const local = fetched.stdout.trim();
    t.equal(local, join(home, "runs", namespace, started.runId));
    for (const file of ["history.jsonl", "result.json", "console.log", "logs/agent-001-ticker.log"]) t.ok(await stat(join(local, file)).catch(() => undefined), `fetched ${file}`);
    t.match(JSON.parse(await readFile(join(local, "result.json"), "utf8")), { status: "passed", checks: { valid: true } });
    await waitFor("the runner to leave the orchestrator agent", async () => ((await ps(started.pid)) === "" ? true : undefined), 20_000, 200);
    t.comment(`run --detach took ${detached.ms} ms (bundle, staging of node and bundles, start)`);

    // A cloud fleet without an orchestrator agent: the runner is a process here, and run says what that means.
    const bare = join(home, "bare.json");
    await writeFile(bare, JSON.stringify({ ...full, target: "gcp", agents: full.agents.filter((a) => a.name !== "orchestrator-001").map(({ inbox: _inbox, ...agent }) => agent) }));
    const key = new NamespaceState(home, namespace).clientKeyPath;
    const inProcess = await runCli(["run", SCENARIO, "--inventory", bare, "--ssh-key", key, "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "1" });
    t.equal(inProcess.code, 0, inProcess.stderr);
    t.match(inProcess.stderr, /has no orchestrator agent: this detached run is a process of this machine and ends with it; add a group .* to the stack's fieldtest:agents/);
    const here = JSON.parse(inProcess.stdout) as { runId: string; pid: number };
    t.ok(here.pid > 0, "a process of this machine");
    const ended = await runCli(["attach", "--inventory", bare, "--ssh-key", key, "--run", here.runId], env);
    t.equal(ended.code, 0, ended.stderr);
  });
}
