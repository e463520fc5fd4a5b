import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { CODE_ROOT } from "../../core/package-files.ts";
import { stateHome } from "../state.ts";

/**
 * Where the Pulumi project of `up --cloud` lives, and so where its stack files are written. In
 * fieldtest's own checkout that is the checkout (its `stacks/`); when fieldtest is installed
 * as a dependency, the package is not the user's to write into, so the project is made in the
 * state directory (`$FIELDTEST_HOME/pulumi`), running the package's program from there.
 */
export function stackProjectDir(context: { env: NodeJS.ProcessEnv; packageRoot: string }): string {
  return isInstalledPackage(context.packageRoot) ? join(stateHome(context.env), "pulumi") : context.packageRoot;
}

export function isInstalledPackage(packageRoot: string): boolean {
  return packageRoot.split(sep).includes("node_modules");
}

/**
 * Makes `dir` a Pulumi project that runs the package's `infra/` program, as the running code has
 * it (the compiled build/infra/ of an installed package); nothing to do in the package itself.
 */
export async function prepareStackProject(dir: string, packageRoot: string): Promise<void> {
  if (dir === packageRoot) return;
  const project = parse(await readFile(join(packageRoot, "Pulumi.yaml"), "utf8")) as { main?: string; runtime?: { options?: { nodeargs?: string } } };
  project.main = `${relative(dir, join(CODE_ROOT, "infra"))}/`;
  // The program's loader is resolved from the package, not from the state directory.
  if (project.runtime?.options) project.runtime.options.nodeargs = `--import ${fileURLToPath(import.meta.resolve("tsx"))}`;
  await mkdir(join(dir, "stacks"), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "Pulumi.yaml"), stringify(project));
}
