import { homedir } from "node:os";
import { isExecutable, onPath } from "../../core/executables.ts";
import { basename, dirname, join } from "node:path";

/**
 * Pulumi's Automation API runs the `pulumi` CLI for every operation. fieldtest looks for it
 * before doing anything, so that a missing CLI is reported plainly instead of as a spawn error
 * halfway through.
 */

export interface PulumiCliLocation {
  /** The executable found. */
  path: string;
  /** For `PulumiCommand.get({ root })`: the directory whose `bin/pulumi` is the executable. */
  root: string | undefined;
}

/** Where fieldtest looks, in order: each directory of PATH, `$PULUMI_HOME/bin`, `~/.pulumi/bin` (the installer's default). */
export function pulumiCliCandidates(env: NodeJS.ProcessEnv): string[] {
  const installed = [env.PULUMI_HOME && join(env.PULUMI_HOME, "bin", "pulumi"), join(env.HOME || homedir(), ".pulumi", "bin", "pulumi")];
  return [...onPath("pulumi", env), ...installed.filter((path): path is string => Boolean(path))];
}

export function findPulumiCli(env: NodeJS.ProcessEnv): PulumiCliLocation | undefined {
  const path = pulumiCliCandidates(env).find(isExecutable);
  if (!path) return undefined;
  const bin = dirname(path);
  return { path, root: basename(bin) === "bin" ? dirname(bin) : undefined };
}

export class PulumiCliMissingError extends Error {}

/** What is missing, how to install it, and that nothing happened (`outcome`). */
export function missingCliMessage(what: string, outcome = "Nothing was created."): string {
  return [
    `${what} needs the Pulumi CLI, which is not installed: there is no \`pulumi\` on PATH, in $PULUMI_HOME/bin or in ~/.pulumi/bin.`,
    "fieldtest drives Pulumi through its Automation API, which runs the CLI. Install it (https://www.pulumi.com/docs/install/):",
    "  curl -fsSL https://get.pulumi.com | sh",
    "then open a new shell so that ~/.pulumi/bin is on PATH (or set PULUMI_HOME to the installation).",
    outcome,
  ].join("\n");
}

/** The CLI's location, or a {@link PulumiCliMissingError} saying how to install it. */
export function requirePulumiCli(env: NodeJS.ProcessEnv, what: string, outcome?: string): PulumiCliLocation {
  const location = findPulumiCli(env);
  if (!location) throw new PulumiCliMissingError(missingCliMessage(what, outcome));
  return location;
}
