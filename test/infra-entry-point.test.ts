// The program `pulumi up` runs is the one Pulumi's nodejs runner loads for the project's `main`,
// which mocks never see: they import infra/index.ts themselves. Here the runner
// (@pulumi/pulumi/cmd/run) runs as pulumi-language-nodejs starts it, against a gRPC stand-in for
// the engine (test/helpers/pulumi-engine.ts), for fieldtest's checkout and for the project an
// installed fieldtest generates; the program it loads must declare the fleet.
import { cp, mkdir, readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { ROOT, tempHome } from "./helpers/fleet.ts";
import { computedOutputs, invokeResults } from "./fixtures/pulumi-mocks.ts";
import { runPulumiRunner, startEngineStandIn } from "./helpers/pulumi-engine.ts";
import { assertRunsTheFleetProgram, exampleConfig, exampleGcpConfig, runnerLaunches } from "./helpers/pulumi-project.ts";

/** How Pulumi's SDK sends a value that is not known yet (a preview's computed output). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

t.test("fieldtest's checkout: the runner loads infra/index.ts for the main of Pulumi.yaml", async (t) => {
  await assertRunsTheFleetProgram(t, ROOT, await exampleGcpConfig());
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
  await assertRunsTheFleetProgram(t, projectDir, await exampleGcpConfig());
});

/** Where each cloud's VM carries its boot script, whose change (or unknown value) replaces the VM. */
const BOOT_SCRIPTS: Record<string, { instance: string; script: (inputs: Record<string, unknown>) => unknown; replacedBy: string }> = {
  "example-gcp": { instance: "gcp:compute/instance:Instance", script: (inputs) => (inputs["metadata"] as Record<string, unknown> | undefined)?.["startup-script"], replacedBy: "metadata is under replaceOnChanges" },
  "example-aws": { instance: "aws:ec2/instance:Instance", script: (inputs) => inputs["userData"], replacedBy: "userDataReplaceOnChange" },
};

for (const [stack, boot] of Object.entries(BOOT_SCRIPTS)) {
  t.test(`${stack}: in a preview, where an image to rebuild has no digest yet, every VM's boot script is known, so a rebuild replaces no VM`, async (t) => {
    // A value a preview does not know may change, and the VM is replaced when its boot script may
    // (${boot.replacedBy}): one that held the image's digest would replace every VM at every rebuild.
    const [launch] = await runnerLaunches(ROOT, await exampleConfig(stack), stack);
    // An update of a stack that holds the fleet: every resource answers its state, except the
    // images, which will be rebuilt (another machine, a pruned build cache), so their digest is unknown.
    let declared = 0;
    const engine = await startEngineStandIn({
      stateOutputs: (type, name, inputs) => (type === "docker-build:index:Image" ? undefined : computedOutputs(type, name, inputs, ++declared)),
      invokeResults,
    });
    t.teardown(engine.close);
    const result = await runPulumiRunner(launch!, engine);
    t.equal(result.code, 0, "the runner exits 0", { output: result.output, logged: engine.logs.filter((line) => !/ RPC (prepared|finished)|^Registering resource|^Invoking function/.test(line)) });
    const instances = engine.registrations.filter((r) => r.type === boot.instance);
    t.ok(instances.length > 0, "the example stack declares VMs");
    const image = engine.registrations.find((r) => r.type === "docker-build:index:Image")!;
    const imageUrn = `urn:pulumi:stack::project::${image.type}::${image.name}`;
    for (const instance of instances) {
      const script = boot.script(instance.inputs);
      t.type(script, "string", `${instance.name}: the boot script is known`);
      t.notMatch(String(script), UNKNOWN, `${instance.name}: nothing in it waits for the build`);
      t.match(String(script), /[/:]debian-[0-9a-f]{12}\n/, `${instance.name}: it runs the image by its content tag`);
      t.ok(instance.dependencies.includes(imageUrn), `${instance.name}: and is made once the image is pushed`);
    }
  });
}
