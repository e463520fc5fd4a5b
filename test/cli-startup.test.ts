// The CLI loads what a command uses when that command runs: starting it (`--help`, parsing the
// flags) reaches commander and small modules only, and `list`, `destroy` and `describe` never load
// Pulumi, the website or esbuild. Read from the import statements: what a module imports at its
// top is loaded with it; `import("…")` inside a function only when it runs.
import { resolve } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/fleet.ts";
import { importGraph } from "./helpers/import-graph.ts";

const at = (...paths: string[]) => paths.map((path) => resolve(ROOT, path));
const startup = at("bin/fieldtest.ts", "src/cli/main.ts");
/** Pulumi, the website (fastify), esbuild, and tsx (for TypeScript scenarios). */
const HEAVY = /^(@pulumi\/|fastify$|@fastify\/|esbuild$|tsx$|prom-client$)/;

t.test("starting the CLI loads commander and no other package", async (t) => {
  const { packages } = importGraph(startup, { dynamic: false });
  t.same([...packages].sort(), ["commander"]);
});

t.test("list, destroy and describe load no Pulumi, website, esbuild or tsx", async (t) => {
  // What their actions import (src/cli/main.ts), with what starting the CLI loads.
  const commands = {
    "list and destroy": at("src/cli/fleet.ts", "src/cli/options.ts"),
    describe: at("src/cli/describe.ts", "src/cli/scenario-options.ts"),
  };
  for (const [name, modules] of Object.entries(commands)) {
    const { packages } = importGraph([...startup, ...modules], { dynamic: false });
    t.same([...packages].filter((name) => HEAVY.test(name)), [], `${name}: ${[...packages].sort().join(", ")}`);
  }
});

t.test("the walk sees a heavy import where there is one", async (t) => {
  t.ok(importGraph(at("src/observe/website-server.ts"), { dynamic: false }).packages.has("fastify"), "the website's server loads fastify");
  t.ok(importGraph(at("src/cli/run.ts"), { dynamic: false }).packages.has("prom-client"), "run loads the metrics store");
});
