import { readdirSync, readFileSync } from "node:fs";
import t from "tap";
import { parse } from "yaml";
import { dockerfileAliases } from "../src/core/images.ts";
import { parseStackConfig } from "../src/core/stack-config.ts";

const stacksDir = new URL("../stacks/", import.meta.url);
const dockerfilesDir = new URL("../dockerfiles/", import.meta.url).pathname;
const stackFiles = readdirSync(stacksDir).filter((file) => /^Pulumi\..+\.yaml$/.test(file));

t.test("the documented example stacks are valid stack configs", async (t) => {
  t.same(stackFiles.sort(), ["Pulumi.example-aws.yaml", "Pulumi.example-gcp.yaml", "Pulumi.example-ssh.yaml"]);
  for (const file of stackFiles) {
    const stackName = file.replace(/^Pulumi\.(.+)\.yaml$/, "$1");
    const { config } = parse(readFileSync(new URL(file, stacksDir), "utf8")) as { config: Record<string, unknown> };
    // An hour before the examples' fieldtest:expiresAt, which a real stack sets itself.
    const parsed = parseStackConfig(config, { stackName, now: new Date("2030-01-01T11:00:00Z"), defaultOwner: "tester", imageAliases: () => dockerfileAliases(dockerfilesDir) });
    t.equal(parsed.namespace, stackName, `${file}: the stack name is the namespace`);
    t.equal(parsed.target, stackName.replace("example-", ""), `${file}: target`);
  }
});
