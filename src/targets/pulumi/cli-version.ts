import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { PulumiCommand } from "@pulumi/pulumi/automation/index.js";

/**
 * The oldest Pulumi CLI fieldtest works with: stack tags on a `--local` backend came in 3.211,
 * and without them `reap` never sees a stack's expiry.
 */
export const MIN_PULUMI_CLI_VERSION = "3.211.0";

export class PulumiCliVersionError extends Error {}

/**
 * The CLI at `root` (or on PATH), checked by the Automation API itself against
 * MIN_PULUMI_CLI_VERSION; an older one is an error that says how to upgrade.
 */
export async function pulumiCommand(root: string | undefined, path: string, outcome: string): Promise<PulumiCommand> {
  // The SemVer class of the SDK's own semver, which PulumiCommand.get compares with.
  const { SemVer } = createRequire(fileURLToPath(import.meta.resolve("@pulumi/pulumi")))("semver") as { SemVer: new (version: string) => never };
  return PulumiCommand.get({ ...(root ? { root } : {}), version: new SemVer(MIN_PULUMI_CLI_VERSION) }).catch((error: Error) => {
    const message = error.message.trim();
    if (/Minimum version requirement failed/.test(message)) {
      const current = /current CLI version is (\S+?)\.(?:\s|$)/.exec(message)?.[1] ?? "older";
      throw new PulumiCliVersionError(
        `the Pulumi CLI at ${path} is ${current}; fieldtest needs ${MIN_PULUMI_CLI_VERSION} or later (stack tags on a --local backend, which reap reads): ` +
          `upgrade it with \`curl -fsSL https://get.pulumi.com | sh\` (or \`brew upgrade pulumi\`), then run this again. ${outcome}`,
      );
    }
    throw new PulumiCliVersionError(`${path} cannot be used by fieldtest (${message}): install a current Pulumi CLI (https://www.pulumi.com/docs/install/). ${outcome}`);
  });
}
