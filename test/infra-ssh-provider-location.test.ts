// The ssh target's provider is stored in the stack state, and `destroy` runs that stored copy: it
// must find fieldtest wherever Pulumi runs it, not where the stack was made. Pulumi's own runner
// (as the language host starts it) runs the program of a copy of this checkout, against the engine
// stand-in that records the provider text the engine would store; the copy is then removed, and
// Pulumi's own dynamic-provider plugin, started as the engine starts it in other layouts (this
// checkout, a project that installed fieldtest, one that installed the package's build with no
// sources), runs the stored provider's delete.
import { execFile } from "node:child_process";
import { cp, mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { parse } from "yaml";
import { isoSeconds } from "../src/core/namespace.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";
import { runPulumiRunner, startDynamicProviderPlugin, startEngineStandIn } from "./helpers/pulumi-engine.ts";

const run = promisify(execFile);
// The built layout compiles the package (tsc), which takes minutes on a busy machine.
t.setTimeout(15 * 60_000);

/** What a checkout's Pulumi program needs; node_modules is the checkout's own. */
const PACKAGE_PARTS = ["package.json", "Pulumi.yaml", "infra", "src", "dockerfiles"];

async function copyCheckout(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const part of PACKAGE_PARTS) await cp(join(ROOT, part), join(dir, part), { recursive: true });
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
}

/** The provider text the engine stores for the ssh target's agents, as Pulumi's runner serializes it for `projectDir`'s `main`. */
async function storedProvider(t: Test, projectDir: string): Promise<string> {
  const project = parse(await readFile(join(projectDir, "Pulumi.yaml"), "utf8")) as { main: string; runtime: { options: { nodeargs: string } } };
  const operator = generateEd25519KeyPair("operator");
  await writeFile(join(projectDir, "operator_key"), operator.privateKey, { mode: 0o600 });
  const engine = await startEngineStandIn();
  t.teardown(engine.close);
  const config = {
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "1h",
    "fieldtest:expiresAt": isoSeconds(new Date(Date.now() + 3600_000)),
    "fieldtest:sshHosts": JSON.stringify([{ host: "192.0.2.10", hostKey: generateEd25519KeyPair("host").publicKey }]),
    "fieldtest:sshKeyPath": join(projectDir, "operator_key"),
  };
  // The project's `main`, run from the project root as current language hosts do.
  const launch = {
    pwd: projectDir,
    program: project.main,
    nodeArgs: project.runtime.options.nodeargs.split(" "),
    runPath: createRequire(join(projectDir, "package.json")).resolve("@pulumi/pulumi/cmd/run"),
    project: "fieldtest",
    stack: "moved",
    config,
  };
  const result = await runPulumiRunner(launch, engine);
  if (result.code !== 0) throw new Error(`the runner failed: ${result.output}\n${engine.logs.join("\n")}`);
  const agents = engine.registrations.find((r) => r.type === "pulumi-nodejs:dynamic:Resource");
  if (typeof agents?.inputs["__provider"] !== "string") throw new Error(`no ssh agents with a provider among ${engine.registrations.map((r) => r.type).join(", ")}`);
  return agents.inputs["__provider"];
}

/**
 * npm's hoisted layout of a project that installed fieldtest, and the Pulumi project fieldtest
 * generates in it. `build`: as the package ships, compiled into build/ with no sources (then the
 * provider runs without tsx); else the sources, as a checkout copied into node_modules.
 */
async function installedProject(app: string, form: "build" | "source"): Promise<string> {
  const installed = join(app, "node_modules", "fieldtest");
  await mkdir(installed, { recursive: true });
  for (const part of form === "build" ? ["package.json", "Pulumi.yaml", "dockerfiles"] : PACKAGE_PARTS) await cp(join(ROOT, part), join(installed, part), { recursive: true });
  if (form === "build") await run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--outDir", join(installed, "build")], { cwd: ROOT });
  for (const dependency of await readdir(join(ROOT, "node_modules"))) {
    if (!dependency.startsWith(".")) await symlink(join(ROOT, "node_modules", dependency), join(app, "node_modules", dependency));
  }
  const module = form === "build" ? join(installed, "build", "src", "targets", "pulumi", "stack-project.js") : join(installed, "src", "targets", "pulumi", "stack-project.ts");
  const { prepareStackProject, stackProjectDir } = (await import(module)) as typeof import("../src/targets/pulumi/stack-project.ts");
  const projectDir = stackProjectDir({ env: { FIELDTEST_HOME: join(app, "state") }, packageRoot: installed });
  await prepareStackProject(projectDir, installed);
  return projectDir;
}

const dir = await tempHome(t);
const first = join(dir, "first-checkout");
await copyCheckout(first);
const provider = await storedProvider(t, first);
await rm(first, { recursive: true });

t.test("the stored provider names no path of the checkout that made it", async (t) => {
  t.match(provider, /destroySshFleet/, "it is the ssh agents' provider");
  t.notOk(provider.includes(first), "not the checkout's folder");
  t.notOk(provider.includes(ROOT), "not the folder of its dependencies");
  t.notMatch(provider, /file:\/\//, "no file URL");
});

/** The state of one host's agents as `destroy` hands it to the provider; no host: the namespace's containers are looked for nowhere. */
const state = { __provider: provider, namespace: "moved", hosts: [], operatorPrivateKey: "" };

for (const [layout, pwd] of [
  ["fieldtest's checkout, at another path (the plugin in the folder of Pulumi.yaml's main, infra/)", join(ROOT, "infra")],
  ["a project that installed fieldtest (the plugin in the generated Pulumi project)", ""],
] as const) {
  t.test(`the checkout gone, the stored provider's delete loads fieldtest from ${layout}`, async (t) => {
    const cwd = pwd || (await installedProject(join(dir, "app"), "source"));
    const plugin = await startDynamicProviderPlugin(cwd);
    t.teardown(plugin.close);
    await t.resolves(plugin.delete("moved", state));
  });
}

t.test("from a folder where fieldtest is not installed, delete says where it looked and what to do", async (t) => {
  const elsewhere = join(dir, "elsewhere");
  // Pulumi's SDK is there (the plugin needs it), fieldtest is not.
  await mkdir(join(elsewhere, "node_modules"), { recursive: true });
  await symlink(join(ROOT, "node_modules", "@pulumi"), join(elsewhere, "node_modules", "@pulumi"));
  const plugin = await startDynamicProviderPlugin(elsewhere);
  t.teardown(plugin.close);
  await t.rejects(plugin.delete("moved", state), /cannot find the fieldtest package from .*elsewhere.*run Pulumi from fieldtest's checkout or from a project that installs fieldtest/s);
});

t.test("an installed package's build (no sources) makes a provider with no path, and runs both without tsx", async (t) => {
  const app = join(dir, "built-app");
  const projectDir = await installedProject(app, "build");
  const built = await storedProvider(t, projectDir);
  t.match(built, /destroySshFleet/);
  t.notOk(built.includes(app) || built.includes(ROOT), "no path of the package or its dependencies");
  t.notMatch(built, /file:\/\//);
  const plugin = await startDynamicProviderPlugin(projectDir);
  t.teardown(plugin.close);
  await t.resolves(plugin.delete("moved", { ...state, __provider: built }), "its own provider");
  await t.resolves(plugin.delete("moved", state), "the provider a checkout stored");
});
