// The end of a detached run, in a user's own project as the README lays it out: `"type": "module"`,
// fieldtest installed from its packed tarball, a TypeScript scenario in scenarios/. The run is
// started with --detach and followed with `attach` to its result; a run whose runner was
// killed is ended by `stop`, which records it and says so, instead of waiting forever.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { runnerContainerName } from "../src/runs/homes/engine-container.ts";
import { freePort } from "./fixtures/binaries.ts";
import { cleanupNamespace, requireDocker, uniqueNamespace, waitFor, type CliResult } from "./helpers/fleet.ts";
import { installPackedFieldtest } from "./helpers/packed.ts";

const run = promisify(execFile);

const SCENARIO = `import { defineScenario, z } from "fieldtest";

export default defineScenario({
  name: "mini",
  params: z.object({ seconds: z.number().int().min(0).default(0) }),
  fleet: () => ({ agent: { count: 1 } }),
  async run(cloud, p) {
    const [agent] = cloud.agents;
    cloud.log(\`mini says \${(await agent.exec("echo hello")).stdout.trim()}\`);
    if (p.seconds > 0) await agent.exec(\`sleep \${p.seconds}\`);
  },
});
`;

// npm pack compiles the package (prepack), and packs wait for each other: minutes on a busy machine.
t.setTimeout(15 * 60_000);
const docker = await requireDocker(t);
if (docker) {
  let project = "";
  const env = () => ({ FIELDTEST_HOME: join(project, ".state"), FIELDTEST_RUNS_DIR: join(project, "runs") });
    // tap adds a NODE_OPTIONS to every child it spawns that loads its hooks from this checkout, which
  // the orchestrator container does not mount: `env -u` takes it off again, as a user's shell has none.
  const fieldtest = (args: string[], timeout = 0): Promise<CliResult> =>
    run("env", ["-u", "NODE_OPTIONS", join(project, "node_modules", ".bin", "fieldtest"), ...args], { cwd: project, env: { ...process.env, ...env() }, maxBuffer: 16 << 20, timeout, killSignal: "SIGKILL" }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string; killed?: boolean }) => ({ code: error.killed ? null : (error.code ?? null), stdout: error.stdout ?? "", stderr: error.stderr ?? "" }),
    );

  t.before(async () => {
    project = (await installPackedFieldtest(t)).dir;
    await mkdir(join(project, "scenarios"));
    await writeFile(join(project, "scenarios", "mini.ts"), SCENARIO);
  });

  t.test("run --detach of a .ts scenario in a type-module project, then attach: the run passes", async (t) => {
    const namespace = uniqueNamespace("runend-mod");
    cleanupNamespace(t, docker, namespace);
    const port = await freePort();
    // Long enough for attach to find the run's fleet still up.
    const started = await fieldtest(["run", "./scenarios/mini.ts", "--localhost", "--vms", "1", "--namespace", namespace, "--ttl", "10m", "--detach", "--param", "seconds=20", "--website", "--website-port", String(port)]);
    t.equal(started.code, 0, "the detached run starts", { output: started.stderr + started.stdout });
    t.match(started.stdout, `website:    http://127.0.0.1:${port}`);
    const attached = await fieldtest(["attach", "--namespace", namespace], 180_000);
    t.equal(attached.code, 0, "attach follows it to a pass", { output: attached.stderr + attached.stdout });
    t.match(attached.stdout, "mini says hello");
    t.match(attached.stderr, /run \S+ passed/);
    t.match(attached.stdout, `website: http://127.0.0.1:${port}, or \`fieldtest website --namespace ${namespace}\` on your machine`, "the runner's console gives the address the user opens");
    t.notMatch(attached.stdout, /website http:\/\/0\.0\.0\.0/, "not the container's own");
  });

  t.test("stop after the runner was killed: the run is recorded as ended abnormally and stop exits non-zero", async (t) => {
    const namespace = uniqueNamespace("runend-kill");
    cleanupNamespace(t, docker, namespace);
    const started = await fieldtest(["run", "./scenarios/mini.ts", "--localhost", "--vms", "1", "--namespace", namespace, "--ttl", "10m", "--detach", "--json", "--param", "seconds=600"]);
    t.equal(started.code, 0, "the detached run starts", { output: started.stderr + started.stdout });
    const { runId } = JSON.parse(started.stdout) as { runId: string };
    // The runner's first status reaches the fleet's first agent within a second or two.
    await waitFor("the run on the fleet", async () => ((await fieldtest(["runs", "--namespace", namespace, "--json"])).stdout.includes(runId) ? true : undefined), 60_000, 1000);
    await docker.getContainer(runnerContainerName(namespace, runId)).kill({ signal: "SIGKILL" });

    const stopped = await fieldtest(["stop", "--namespace", namespace], 120_000);
    t.not(stopped.code, null, "stop returns by itself", { output: stopped.stderr });
    t.not(stopped.code, 0, "and says the run did not end well");
    t.match(stopped.stderr, /runner .*(gone|no longer)/i, "naming why", { output: stopped.stderr });
    const runs = JSON.parse((await fieldtest(["runs", "--namespace", namespace, "--json"])).stdout) as Array<{ id: string; final: boolean; result: string; phase: string; error?: string }>;
    const recorded = runs.find((r) => r.id === runId);
    t.match(recorded, { final: true, result: "failed", error: /runner/ }, "runs shows it ended, abnormally");
    t.not(recorded?.phase, "running", "and not still running");
  });
}
