// The ssh target's provider is stored in the stack state, and `destroy` runs that stored copy: it
// must find fieldtest wherever Pulumi runs it, not where the stack was made. Pulumi's own runner
// (as the language host starts it) runs the program of a copy of this checkout, against the engine
// stand-in that records the provider text the engine would store; the copy is then removed, and
// Pulumi's own dynamic-provider plugin, started as the engine starts it in other layouts (this
// checkout, a project that installed fieldtest), runs the stored provider's delete.
import { cp, mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import t, { type Test } from "tap";
import { isoSeconds } from "../src/core/namespace.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";
import { runPulumiRunner, startDynamicProviderPlugin, startEngineStandIn } from "./helpers/pulumi-engine.ts";

/** What a checkout's Pulumi program needs; node_modules is the checkout's own. */
const PACKAGE_PARTS = ["package.json", "Pulumi.yaml", "infra", "src", "dockerfiles"];

async function copyCheckout(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const part of PACKAGE_PARTS) await cp(join(ROOT, part), join(dir, part), { recursive: true });
  await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
}

/** The provider text the engine stores for the ssh target's agents, as Pulumi's runner serializes it in `checkout`. */
async function storedProvider(t: Test, checkout: string): Promise<string> {
  const operator = generateEd25519KeyPair("operator");
  await writeFile(join(checkout, "operator_key"), operator.privateKey, { mode: 0o600 });
  const engine = await startEngineStandIn();
  t.teardown(engine.close);
  const config = {
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "1h",
    "fieldtest:expiresAt": isoSeconds(new Date(Date.now() + 3600_000)),
    "fieldtest:sshHosts": JSON.stringify([{ host: "192.0.2.10", hostKey: generateEd25519KeyPair("host").publicKey }]),
    "fieldtest:sshKeyPath": join(checkout, "operator_key"),
  };
  // Pulumi.yaml's `main: infra/index.ts`, run from the project root as current language hosts do.
  const launch = {
    pwd: checkout,
    program: "infra/index.ts",
    nodeArgs: ["--import", "tsx"],
    runPath: createRequire(join(checkout, "package.json")).resolve("@pulumi/pulumi/cmd/run"),
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

/** npm's hoisted layout of a project that installed fieldtest, and the Pulumi project fieldtest generates in it. */
async function installedProject(app: string): Promise<string> {
  const installed = join(app, "node_modules", "fieldtest");
  await mkdir(installed, { recursive: true });
  for (const part of PACKAGE_PARTS) await cp(join(ROOT, part), join(installed, part), { recursive: true });
  for (const dependency of await readdir(join(ROOT, "node_modules"))) {
    if (!dependency.startsWith(".")) await symlink(join(ROOT, "node_modules", dependency), join(app, "node_modules", dependency));
  }
  const { prepareStackProject, stackProjectDir } = (await import(join(installed, "src", "targets", "pulumi", "stack-project.ts"))) as typeof import("../src/targets/pulumi/stack-project.ts");
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
    const cwd = pwd || (await installedProject(join(dir, "app")));
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
