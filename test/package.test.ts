// fieldtest as an npm package: what `npm pack` ships, and the tarball installed into a fresh
// `"type": "module"` project working from plain Node (no tsx, no build step of the user's):
// the API imported from a .mjs, its declarations for TypeScript, --version, the built-in health
// scenario and a user's own .ts scenario (the README's) on localhost, and the cloud path refused plainly
// without Pulumi's optional SDKs.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { cleanupNamespace, containerCount, requireDocker, ROOT, uniqueNamespace } from "./helpers/fleet.ts";
import { installPackedFieldtest, type PackedProject } from "./helpers/packed.ts";

const run = promisify(execFile);
const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };

const API = `import { runScenario, defineScenario, z, FaultRefusedError, ExecOutputLimitError, ExecError, ExecTimeoutError,
  WaitTimeoutError, BroadcastError, HostKeyMismatchError, ScenarioError } from "fieldtest";
const errors = [FaultRefusedError, ExecOutputLimitError, ExecError, ExecTimeoutError, WaitTimeoutError, BroadcastError, HostKeyMismatchError, ScenarioError];
const scenario = defineScenario({ name: "plain", params: z.object({ n: z.number().default(2) }), run: async () => {} });
console.log(JSON.stringify({ runScenario: typeof runScenario, scenario: scenario.name, errors: errors.map((e) => new e("x", []) instanceof Error) }));
`;

const TYPED = `import { defineScenario, type Agent, type ExecResult, type Fault } from "fieldtest";
export default defineScenario({
  name: "typed",
  async run(cloud) {
    const agent: Agent = cloud.agents[0]!;
    const result: ExecResult = await agent.exec("true");
    const fault: Fault | undefined = undefined;
    cloud.log(String(result.code) + String(fault));
  },
});
`;

/** The README's scenario, as a user would save it in their project. */
async function readmeScenario(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme);
  if (!block) throw new Error("README.md has no ```ts block");
  return block[1]!;
}

// npm pack compiles the package (prepack), and packs wait for each other: minutes on a busy machine.
t.setTimeout(15 * 60_000);
let packed: PackedProject;
t.before(async () => {
  packed = await installPackedFieldtest(t);
});

t.test("the tarball holds the build, the runtime assets and the docs, and no sources, tests or tooling", async (t) => {
  const listing = await run("tar", ["-tzf", join(packed.dir, packed.tarball)]);
  const files = listing.stdout.split("\n").filter(Boolean).map((f) => f.replace(/^package\//, ""));
  for (const needed of [
    "package.json",
    "README.md",
    "build/bin/fieldtest.js",
    "build/bin/orchestrator-entry.js",
    "build/src/index.js",
    "build/src/index.d.ts",
    "build/src/observe/web/index.html",
    "build/infra/index.js",
    "bin/resolve-fieldtest.mjs",
    "dockerfiles/debian.Dockerfile",
    "scenarios/health.ts",
    "observe/grafana/",
    "Pulumi.yaml",
  ]) {
    t.ok(files.some((file) => file.startsWith(needed)), `ships ${needed}`);
  }
  const stray = files.filter((file) => /^(src|test|bench|\.ci|scripts|stacks|node_modules)\//.test(file) || /^(bin|build)\/.*\.ts$/.test(file.replace(/\.d\.ts$/, ".js")));
  t.same(stray, [], "no sources, tests, benchmarks or CI files");
});

t.test("the install pulls no cloud SDK (they are optional peers) and warns of no engine mismatch", async (t) => {
  t.notMatch(packed.installWarnings, /EBADENGINE|deprecated/, "no unsupported engine or deprecated package", { stderr: packed.installWarnings });
  for (const sdk of ["pulumi", "gcp", "aws", "tls", "docker-build"]) {
    t.notOk(existsSync(join(packed.dir, "node_modules", "@pulumi", sdk)), `@pulumi/${sdk} is not installed`);
  }
  const manifest = JSON.parse(await readFile(join(packed.dir, "node_modules", "fieldtest", "package.json"), "utf8")) as { scripts?: Record<string, string> };
  t.same(Object.keys(manifest.scripts ?? {}).filter((name) => /^(pre|post)?install$/.test(name)), [], "no install scripts of fieldtest's own");
});

t.test("plain Node imports the API and its errors from the compiled package", async (t) => {
  await writeFile(join(packed.dir, "api.mjs"), API);
  const result = await packed.exec(process.execPath, ["api.mjs"]);
  t.equal(result.code, 0, "node api.mjs works", { stderr: result.stderr });
  t.same(JSON.parse(result.stdout), { runScenario: "function", scenario: "plain", errors: [true, true, true, true, true, true, true, true] });
});

t.test("TypeScript finds the declarations", async (t) => {
  await writeFile(join(packed.dir, "typed.ts"), TYPED);
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const result = await packed.exec(process.execPath, [tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "--types", "node", "--typeRoots", join(ROOT, "node_modules", "@types"), "typed.ts"]);
  t.equal(result.code, 0, "typed.ts typechecks against build/src/index.d.ts", { output: result.stdout + result.stderr });
});

t.test("--version and -V print the package's version", async (t) => {
  for (const flag of ["--version", "-V"]) {
    const result = await packed.fieldtest([flag]);
    t.equal(result.code, 0, flag);
    t.equal(result.stdout.trim(), version, `${flag} prints ${version}`);
  }
});

t.test("up --cloud without Pulumi's SDK: exit 2, the npm i to run, nothing created", async (t) => {
  const home = join(packed.dir, ".cloud-state");
  const result = await packed.fieldtest(
    ["up", "--cloud", "gcp", "--project", "p", "--zone", "europe-west1-b", "--ssh-source-range", "203.0.113.7/32", "--namespace", "nosdk", "--vms", "1"],
    { FIELDTEST_HOME: home },
  );
  t.equal(result.code, 2, "bad input", { stderr: result.stderr });
  t.match(result.stderr, "npm i @pulumi/pulumi @pulumi/gcp @pulumi/tls @pulumi/docker-build");
  t.match(result.stderr, "Nothing was created.");
  t.notOk(existsSync(join(home, "namespaces", "nosdk")), "no namespace state was written");
  const listed = await packed.fieldtest(["list", "--json"], { FIELDTEST_HOME: home });
  t.equal(listed.code, 0, "list works without the SDKs", { stderr: listed.stderr });
});

t.test("the health scenario and a user's own .ts scenario run on localhost from the package", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const env = { FIELDTEST_HOME: join(packed.dir, ".state"), FIELDTEST_RUNS_DIR: join(packed.dir, "runs") };

  const health = uniqueNamespace("pkg");
  cleanupNamespace(t, docker, health);
  const healthRun = await packed.exec("npx", ["fieldtest", "run", "health", "--localhost", "--vms", "1", "--namespace", health], env);
  t.equal(healthRun.code, 0, "npx fieldtest run health --localhost --vms 1 passes", { output: healthRun.stderr + healthRun.stdout });
  t.equal(await containerCount(docker, health), 0, "and removes its fleet");

  await mkdir(join(packed.dir, "scenarios"), { recursive: true });
  await writeFile(join(packed.dir, "scenarios", "echo-pair.ts"), await readmeScenario());
  const own = uniqueNamespace("own");
  cleanupNamespace(t, docker, own);
  const ownRun = await packed.fieldtest(["run", "./scenarios/echo-pair.ts", "--localhost", "--param", "clients=2", "--namespace", own], env);
  t.equal(ownRun.code, 0, "the README's scenario, saved as the user's scenarios/echo-pair.ts, runs", { output: ownRun.stderr + ownRun.stdout });
  t.match(ownRun.stdout, "server server-001 answered 2 clients");
  const runs = await readdir(join(packed.dir, "runs", own));
  t.equal(runs.length, 1, "its run directory is in the project's runs/");
});
