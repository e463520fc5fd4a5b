// The program `pulumi up` runs is the one Pulumi's nodejs runner loads for the project's `main`,
// which mocks never see: they import infra/index.ts themselves. Here the runner
// (@pulumi/pulumi/cmd/run) runs as pulumi-language-nodejs starts it, against a gRPC stand-in for
// the engine (test/helpers/pulumi-engine.ts), for fieldtest's checkout and for the project an
// installed fieldtest generates; the program it loads must declare the fleet.
import { cp, mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import t, { type Test } from "tap";
import { parse } from "yaml";
import { isoSeconds } from "../src/core/namespace.ts";
import { runPulumiRunner, startEngineStandIn, type RunnerLaunch } from "./helpers/pulumi-engine.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";

interface ProjectFile {
  name: string;
  main?: string;
  runtime: { name: string; options?: { nodeargs?: string } };
}

/**
 * How the language host starts the runner for this project: a folder `main` is the program
 * directory with entry point `.`; a file `main` is passed as the entry point, from the project
 * root (current Pulumi CLIs) or from the file's folder (older ones), which must both load it.
 * The Pulumi CLI refuses a `main` outside the project folder ("project 'main' must be a subfolder").
 */
async function launches(projectDir: string, config: Record<string, string>, stack: string): Promise<RunnerLaunch[]> {
  const project = parse(await readFile(join(projectDir, "Pulumi.yaml"), "utf8")) as ProjectFile;
  const main = resolve(projectDir, project.main ?? ".");
  if (relative(projectDir, main).startsWith("..") || isAbsolute(relative(projectDir, main))) {
    throw new Error(`project 'main' must be a subfolder: ${project.main} is outside ${projectDir}`);
  }
  const nodeArgs = (project.runtime.options?.nodeargs ?? "").split(" ").filter(Boolean);
  const launch = (pwd: string, program: string): RunnerLaunch => ({
    pwd,
    program,
    nodeArgs,
    runPath: createRequire(join(pwd, "package.json")).resolve("@pulumi/pulumi/cmd/run"),
    project: project.name,
    stack,
    config,
  });
  if (await readdir(main).then(() => true, () => false)) return [launch(main, ".")];
  return [launch(projectDir, relative(projectDir, main)), launch(dirname(main), basename(main))];
}

/** The example GCP stack, expiring in an hour: the program runs on the real clock here. */
async function exampleConfig(): Promise<Record<string, string>> {
  const { config } = parse(await readFile(join(ROOT, "stacks", "Pulumi.example-gcp.yaml"), "utf8")) as { config: Record<string, unknown> };
  const values = { ...config, "fieldtest:expiresAt": isoSeconds(new Date(Date.now() + 3600_000)) };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

async function assertRunsTheFleetProgram(t: Test, projectDir: string): Promise<void> {
  const config = await exampleConfig();
  for (const launch of await launches(projectDir, config, "example-gcp")) {
    const engine = await startEngineStandIn();
    t.teardown(engine.close);
    const result = await runPulumiRunner(launch, engine);
    const what = `cwd ${launch.pwd}, program ${launch.program}`;
    // The runner's own debug lines say which RPC went through; the rest is what went wrong.
    const logged = engine.logs.filter((line) => !/ RPC (prepared|finished)|^Registering resource|^Invoking function/.test(line));
    t.equal(result.code, 0, `${what}: the runner exits 0`, { output: result.output, logged });
    const types = new Set(engine.registrations.map((r) => r.type));
    t.ok(types.has("fieldtest:gcp:Fleet"), `${what}: infra/index.ts declared the GCP fleet (registered: ${[...types].join(", ")})`);
    t.ok(types.has("gcp:compute/instance:Instance"), `${what}: and its VMs`);
    t.same(engine.stackOutputs()?.sort(), ["clientPrivateKey", "inventory"], `${what}: the stack's outputs are the program's exports`);
  }
}

t.test("fieldtest's checkout: the runner loads infra/index.ts for the main of Pulumi.yaml", async (t) => {
  await assertRunsTheFleetProgram(t, ROOT);
});

t.test("installed as a dependency: the generated project's main is inside it, and the runner loads the package's infra/index.ts", async (t) => {
  // npm's hoisted layout: the package copied into the app's node_modules, its dependencies beside it.
  const app = await tempHome(t);
  const installed = join(app, "node_modules", "fieldtest");
  await mkdir(installed, { recursive: true });
  for (const entry of ["package.json", "Pulumi.yaml", "infra", "src", "dockerfiles"]) await cp(join(ROOT, entry), join(installed, entry), { recursive: true });
  for (const dependency of await readdir(join(ROOT, "node_modules"))) {
    if (!dependency.startsWith(".")) await symlink(join(ROOT, "node_modules", dependency), join(app, "node_modules", dependency));
  }
  const { isInstalledPackage, prepareStackProject, stackProjectDir } = (await import(join(installed, "src", "targets", "pulumi", "stack-project.ts"))) as typeof import("../src/targets/pulumi/stack-project.ts");
  t.ok(isInstalledPackage(installed));
  const home = join(app, "fieldtest-home");
  const projectDir = stackProjectDir({ env: { FIELDTEST_HOME: home }, packageRoot: installed });
  t.equal(projectDir, join(home, "pulumi"));
  await prepareStackProject(projectDir, installed);
  // Made twice, as every `up --cloud` does.
  await prepareStackProject(projectDir, installed);
  await assertRunsTheFleetProgram(t, projectDir);
});
