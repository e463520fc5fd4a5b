// A Pulumi project's program, run the way `pulumi up` runs it: Pulumi's own nodejs runner,
// started as pulumi-language-nodejs starts it for the project's `main`, against the engine
// stand-in (./pulumi-engine.ts). Shared by the checkout's project and the projects an installed
// fieldtest generates.
import { readdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { Test } from "tap";
import { parse } from "yaml";
import { isoSeconds } from "../../src/core/namespace.ts";
import { ROOT } from "./fleet.ts";
import { runPulumiRunner, startEngineStandIn, type Registration, type RunnerLaunch } from "./pulumi-engine.ts";

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
export async function runnerLaunches(projectDir: string, config: Record<string, string>, stack: string): Promise<RunnerLaunch[]> {
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

/** An example stack of `stacks/` (`example-gcp`), expiring in an hour (the program runs on the real clock here), with `overrides`. */
export async function exampleConfig(stack: string, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const { config } = parse(await readFile(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> };
  const values = { ...config, "fieldtest:expiresAt": isoSeconds(new Date(Date.now() + 3600_000)), ...overrides };
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]));
}

/** The example GCP stack, as exampleConfig makes it. */
export function exampleGcpConfig(overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  return exampleConfig("example-gcp", overrides);
}

/**
 * Runs the project's program under every launch the language host may use and asserts that it
 * is fieldtest's: it declares the GCP fleet, its VMs and the stack's outputs. Returns what the
 * last launch registered.
 */
export async function assertRunsTheFleetProgram(t: Test, projectDir: string, config: Record<string, string>, stack = "example-gcp"): Promise<Registration[]> {
  let registrations: Registration[] = [];
  for (const launch of await runnerLaunches(projectDir, config, stack)) {
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
    registrations = engine.registrations;
  }
  return registrations;
}
