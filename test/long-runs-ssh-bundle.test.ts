// The bundle an SSH host's orchestrator runs: plain node, no node_modules, no tsx, and the
// scenario's fieldtest (by name or by path to fieldtest's own source) is the CLI bundle itself.
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { buildOrchestratorBundle, CLI_BUNDLE, SCENARIO_BUNDLE, WEBSITE_WORKER_BUNDLE } from "../src/runs/homes/runner-bundle.ts";
import { stagingDigest } from "../src/runs/homes/staging.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";

const run = promisify(execFile);

t.test("a scenario importing fieldtest by name and by path runs from the bundle with plain node", async (t) => {
  const dir = await tempHome(t);
  const scenario = join(dir, "two-imports.ts");
  await writeFile(
    scenario,
    [
      'import { defineScenario } from "fieldtest";',
      `import { z } from ${JSON.stringify(relative(dir, join(ROOT, "src", "index.ts")))};`,
      'export default defineScenario({ name: "two-imports", params: z.object({ rounds: z.number().default(3) }), async run() {} });',
    ].join("\n"),
  );
  const bundle = await buildOrchestratorBundle(ROOT, scenario);
  t.teardown(() => bundle.remove());
  const scenarioCode = await readFile(join(bundle.dir, SCENARIO_BUNDLE), "utf8");
  t.match(scenarioCode, /from "\.\/fieldtest\.mjs"/, "fieldtest is imported from the CLI bundle");
  t.notMatch(scenarioCode, /function defineScenario/, "fieldtest itself is not bundled into the scenario a second time");
  t.notOk((await readFile(join(bundle.dir, CLI_BUNDLE), "utf8")).includes("class LocalWorkspace"), "Pulumi's automation API is left out");
  t.equal(bundle.readsBesideItself, false, "no notice for a scenario that reads nothing beside itself");
  t.ok(bundle.files.includes(WEBSITE_WORKER_BUNDLE), "the website's thread has its own file, started from beside the CLI bundle");
  t.match(await readFile(join(bundle.dir, WEBSITE_WORKER_BUNDLE), "utf8"), /fastify/i, "with the web server in it");

  // A cwd without node_modules, and node without tsx: what the host has.
  const described = await run(process.execPath, [join(bundle.dir, CLI_BUNDLE), "describe", join(bundle.dir, SCENARIO_BUNDLE)], { cwd: dir, env: { PATH: process.env.PATH ?? "" } });
  t.match(described.stdout, /scenario two-imports/);
  t.match(described.stdout, /rounds/, "the scenario's zod schema is the CLI's zod");

  const files = bundle.files.map((file) => ({ relative: file, local: join(bundle.dir, file) }));
  const digest = await stagingDigest(files);
  t.equal(await stagingDigest(files), digest, "the same files, the same staging directory");
  t.not(await stagingDigest(files.map((f, i) => (i === 0 ? { ...f, mode: 0o600 } : f))), digest, "a mode given for the host, another staging directory");
  await writeFile(join(bundle.dir, "web", "style.css"), "changed\n");
  t.not(await stagingDigest(files), digest, "a changed file, another staging directory");
});

t.test("a scenario that reads a file beside itself is told that the file does not go with the bundle", async (t) => {
  const dir = await tempHome(t);
  const scenario = join(dir, "reads-data.mts");
  await writeFile(join(dir, "data.json"), "{}\n");
  await writeFile(
    scenario,
    [
      'import { readFileSync } from "node:fs";',
      'import { defineScenario } from "fieldtest";',
      'export default defineScenario({ name: "reads-data", async run(cloud) { cloud.log(readFileSync(new URL("./data.json", import.meta.url), "utf8")); } });',
    ].join("\n"),
  );
  const bundle = await buildOrchestratorBundle(ROOT, scenario);
  t.teardown(() => bundle.remove());
  t.equal(bundle.readsBesideItself, true);
  t.notOk(bundle.files.some((file) => file.endsWith("data.json")), "the data file is not in the bundle");
});
