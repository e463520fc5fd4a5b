import { createRequire } from "node:module";
import { FleetInputError } from "../context.ts";
import type { CloudTarget } from "../../core/defaults.ts";

/**
 * Pulumi's SDKs are optional peer dependencies of the package: a user who runs only localhost
 * or SSH-host fleets does not install them (the GCP and AWS ones are over 80 MB each). The
 * commands that touch a stack check for what they load before doing anything.
 */

/** What the Automation API (reading, destroying, reaping stacks) loads. */
export const AUTOMATION_SDK = ["@pulumi/pulumi"];

/** What the Pulumi program (infra/) loads to make a fleet on each cloud. */
const PROGRAM: Record<CloudTarget, string[]> = {
  gcp: ["@pulumi/pulumi", "@pulumi/gcp", "@pulumi/tls", "@pulumi/docker-build"],
  aws: ["@pulumi/pulumi", "@pulumi/aws", "@pulumi/tls", "@pulumi/docker-build"],
};

export class CloudSdkMissingError extends FleetInputError {}

/** The packages of `names` that do not resolve from fieldtest's own location (as the program's imports resolve). */
export function missingPackages(names: readonly string[]): string[] {
  const require = createRequire(import.meta.url);
  return names.filter((name) => {
    try {
      require.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
}

function requirePackages(names: readonly string[], what: string, outcome: string): void {
  const missing = missingPackages(names);
  if (missing.length === 0) return;
  throw new CloudSdkMissingError(
    `${what} needs Pulumi's SDK, which is not installed here (${missing.join(", ")} missing). Install it beside fieldtest:\n` +
      `  npm i ${missing.join(" ")}\n${outcome}`,
  );
}

/** Before `up --cloud <cloud>` does anything: the SDKs its program loads, or a {@link CloudSdkMissingError} naming the `npm i` to run. */
export function requireCloudSdks(cloud: CloudTarget, what: string): void {
  requirePackages(PROGRAM[cloud], what, "Nothing was created.");
}

/** The stack operations (src/targets/pulumi/stacks.ts), loaded only when a stack is touched: slow to load, and an optional dependency. */
export async function loadStacks(what = "a Pulumi stack's namespace", outcome = "Nothing was read or changed."): Promise<typeof import("./stacks.ts")> {
  requirePackages(AUTOMATION_SDK, what, outcome);
  return import("./stacks.ts");
}
