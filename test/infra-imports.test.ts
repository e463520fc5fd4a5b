// infra/ must not load the runtime's heavy modules (dockerode, ssh2, the localhost provisioner):
// the Pulumi program runs in Pulumi's Node process, which should load the cloud SDKs and the
// small shared core, nothing else. Walks the static imports (dynamic ones with a literal
// specifier included) from every module of infra/.
import { readdirSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { importGraph } from "./helpers/import-graph.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const infraModules = readdirSync(resolve(root, "infra"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => resolve(root, "infra", file));

t.test("the Pulumi program loads the cloud SDKs and the small core only", async (t) => {
  const { modules, packages } = importGraph(infraModules);
  const outside = [...modules].map((file) => relative(root, file)).filter((file) => !file.startsWith("infra/"));
  t.same(outside.sort(), ["src/core/defaults.ts", "src/core/exposure.ts", "src/core/image-catalog.ts", "src/core/images.ts", "src/core/inventory.ts", "src/core/namespace.ts", "src/core/naming.ts", "src/core/shapes.ts", "src/core/stack-config.ts", "src/targets/ssh-hosts/host-spec.ts"]);
  t.same([...packages].sort(), ["@pulumi/aws", "@pulumi/docker-build", "@pulumi/gcp", "@pulumi/pulumi", "@pulumi/tls", "zod"]);
});

t.test("the walk sees a heavy import where there is one", async (t) => {
  const { modules, packages } = importGraph([resolve(root, "src/targets/ssh-hosts/fleet.ts")]);
  t.ok([...modules].some((file) => relative(root, file).startsWith("src/targets/docker-engine/")), "the ssh fleet module loads the Docker-engine provisioner");
  t.ok(packages.has("dockerode"), "and dockerode");
});
