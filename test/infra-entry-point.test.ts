// The program `pulumi up` runs is the one Pulumi's nodejs runner loads for the project's `main`,
// which mocks never see: they import infra/index.ts themselves. Here the runner
// (@pulumi/pulumi/cmd/run) runs as pulumi-language-nodejs starts it, against a gRPC stand-in for
// the engine (test/helpers/pulumi-engine.ts), for fieldtest's checkout and for the project an
// installed fieldtest generates; the program it loads must declare the fleet.
import { cp, mkdir, readdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { ROOT, tempHome } from "./helpers/fleet.ts";
import { assertRunsTheFleetProgram, exampleGcpConfig } from "./helpers/pulumi-project.ts";

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
