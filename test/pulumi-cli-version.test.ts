// Stack tags on a --local backend need Pulumi CLI 3.211: the Automation API itself compares the
// installed CLI's `pulumi version` with that minimum. A `bin/pulumi` that answers `version` stands
// in for installed CLIs of two versions.
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { MIN_PULUMI_CLI_VERSION, pulumiCommand } from "../src/targets/pulumi/cli-version.ts";
import { tempHome } from "./helpers/fleet.ts";

async function cliAt(root: string, version: string): Promise<string> {
  await mkdir(join(root, "bin"), { recursive: true });
  const path = join(root, "bin", "pulumi");
  await writeFile(path, `#!/bin/sh\n[ "$1" = version ] && echo v${version}\n`);
  await chmod(path, 0o755);
  return path;
}

t.test("a CLI older than 3.211 is refused with how to upgrade; a recent one is used", async (t) => {
  const old = join(await tempHome(t), "old");
  const oldPath = await cliAt(old, "3.200.1");
  await t.rejects(
    pulumiCommand(old, oldPath, "Nothing was created."),
    { message: new RegExp(`the Pulumi CLI at ${oldPath} is v3\\.200\\.1; fieldtest needs ${MIN_PULUMI_CLI_VERSION} or later[^]*curl -fsSL https://get\\.pulumi\\.com \\| sh[^]*Nothing was created\\.$`) },
  );
  const recent = join(await tempHome(t), "recent");
  const command = await pulumiCommand(recent, await cliAt(recent, "3.211.0"), "Nothing was created.");
  t.equal(command.version?.toString(), "3.211.0");
});
