import t, { type Test } from "tap";
import type Docker from "dockerode";
import { containerCount, requireDocker, runCli, startCli, tempHome, uniqueNamespace, cleanupNamespace, waitForOutput } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("`fieldtest run health --localhost --vms 3` deploys, checks and tears down", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("health");
    cleanupNamespace(t, docker, namespace);
    const run = await runCli(["run", "health", "--localhost", "--vms", "3", "--namespace", namespace, "--ttl", "10m"], { FIELDTEST_HOME: home });
    t.equal(run.code, 0, run.stderr + run.stdout);
    for (const agent of ["agent-001", "agent-002", "agent-003"]) {
      t.match(run.stdout, new RegExp(`${agent}: exec ok, copy ok \\(\\w+\\), httpd on \\d+ reached from agent-\\d+ and stopped`));
    }
    t.match(run.stdout, /\[agent-00\d\/httpd!?\] .*response:200/, "daemon log lines stream with their prefix");
    t.match(run.stderr, /tearing down namespace/);
    t.equal(await containerCount(docker, namespace), 0, "nothing left after the run");
  });

  t.test("a failing scenario exits 1, says why, and still tears down", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("fail");
    cleanupNamespace(t, docker, namespace);
    const { writeFile } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const scenario = join(home, "failing.mts");
    await writeFile(scenario, `import { defineScenario } from "fieldtest";\nexport default defineScenario({ name: "failing", async run(cloud) { await cloud.agents[0]!.exec("exit 7"); } });\n`);
    const run = await runCli(["run", scenario, "--localhost", "--namespace", namespace], { FIELDTEST_HOME: home });
    t.equal(run.code, 1);
    t.match(run.stderr, /scenario failing failed: agent-001: `exit 7` exited with code 7/);
    t.equal(await containerCount(docker, namespace), 0);
  });
}

/** A run of the health scenario that has reached --keep-alive, and is waiting for Ctrl+C. */
async function keptAliveRun(t: Test, docker: Docker, prefix: string, keepAlive: string[] = ["--keep-alive"]) {
  const home = await tempHome(t);
  const namespace = uniqueNamespace(prefix);
  cleanupNamespace(t, docker, namespace);
  const runner = startCli(["run", "health", "--localhost", "--namespace", namespace, ...keepAlive], { FIELDTEST_HOME: home });
  await waitForOutput(runner, /keeping the agents alive/, "the run to reach keep-alive", 60_000);
  const exited = new Promise((resolve) => runner.once("exit", (status) => resolve(status)));
  return { namespace, runner, exited };
}

if (docker) {
  t.test("Ctrl+C ends a keep-alive: the agents are torn down and the exit status is the run's result (0 after a pass)", async (t) => {
    const { namespace, runner, exited } = await keptAliveRun(t, docker, "int");
    runner.kill("SIGINT");
    t.equal(await exited, 0);
    t.match(runner.output(), /interrupted, tearing down/);
    t.equal(await containerCount(docker, namespace), 0, "agents removed before exit");
  });

  t.test("--keep-alive 5s ends by itself, tears down and exits with the run's result", async (t) => {
    const { namespace, exited } = await keptAliveRun(t, docker, "ka", ["--keep-alive", "5s"]);
    t.equal(await exited, 0);
    t.equal(await containerCount(docker, namespace), 0, "agents removed before exit");
  });

  t.test("Ctrl+C twice exits at once and leaves the agents to their TTL", async (t) => {
    const { runner, exited } = await keptAliveRun(t, docker, "int2");
    // The second signal comes before the graceful teardown can finish removing the agent.
    runner.kill("SIGINT");
    await waitForOutput(runner, /interrupted, tearing down/, "the first interrupt to be taken", 10_000, 10);
    runner.kill("SIGINT");
    t.equal(await exited, 130);
    t.match(runner.output(), /second interrupt, exiting now; agents are removed by their TTL/);
  });
}
