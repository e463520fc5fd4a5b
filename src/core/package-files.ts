import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// fieldtest runs from one of two layouts: a checkout, whose TypeScript sources tsx loads
// (src/, bin/, infra/ at the root), or the installed package, whose compiled JavaScript sits in
// build/ (build/src/, build/bin/, build/infra/) beside the assets read at run time
// (dockerfiles/, scenarios/, observe/, Pulumi.yaml). This module is src/core/package-files.*, so
// where it runs from says which. (A third, the orchestrator's bundle, is the CLI in one file.)

const HERE = fileURLToPath(import.meta.url);

/**
 * Run from a one-file bundle (src/runs/homes/runner-bundle.ts), which has no folders of code beside
 * it: the scenario's bundle already imports fieldtest from it, and nothing is compiled on the fly.
 */
export const BUNDLED = !/[\\/]src[\\/]core[\\/]package-files\.[jt]s$/.test(HERE);

/** `.ts` when the sources run, `.js` when the build does: the extension of fieldtest's own modules. */
export const CODE_EXTENSION = HERE.endsWith(".ts") ? ".ts" : ".js";

/** The folder that holds the running code's src/, bin/ and infra/: the checkout, or build/. */
export const CODE_ROOT = dirname(dirname(dirname(HERE)));

/** The package's root: its package.json and the assets read at run time. */
export const PACKAGE_ROOT = CODE_EXTENSION === ".ts" ? CODE_ROOT : dirname(CODE_ROOT);

/** A module of fieldtest's own code by its path without extension, e.g. `src/index`. */
export function codeFile(path: string): string {
  return join(CODE_ROOT, `${path}${CODE_EXTENSION}`);
}

/** The package's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

/** The script that starts the CLI, for a runner that starts it again: in a checkout, the launcher that loads tsx first. */
export const CLI_ENTRY = CODE_EXTENSION === ".ts" ? join(PACKAGE_ROOT, "bin", "fieldtest.js") : codeFile("bin/fieldtest");
