import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse, stringify } from "yaml";
import { codeFile } from "../../core/package-files.ts";
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

/** The program file of a generated project: the Pulumi CLI runs only a `main` inside the project folder. */
export const GENERATED_PROGRAM = "index.mjs";

/**
 * Makes `dir` a Pulumi project that runs the package's `infra/` program (nothing to do in the
 * package itself): a `main` file of its own that re-exports the package's program, a
 * package.json that makes it an ES module (Pulumi's runner imports it instead of requiring it),
 * and `node_modules` pointing at the package's dependencies, where the language host finds
 * Pulumi's runner and the provider plugins, the very copies the program imports.
 */
export async function prepareStackProject(dir: string, packageRoot: string): Promise<void> {
  if (dir === packageRoot) return;
  const project = parse(await readFile(join(packageRoot, "Pulumi.yaml"), "utf8")) as { main?: string; runtime?: { options?: { nodeargs?: string } } };
  project.main = GENERATED_PROGRAM;
  // The program's loader is resolved from the package, not from the state directory.
  if (project.runtime?.options) project.runtime.options.nodeargs = `--import ${fileURLToPath(import.meta.resolve("tsx"))}`;
  await mkdir(join(dir, "stacks"), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "Pulumi.yaml"), stringify(project));
  await writeFile(join(dir, "package.json"), `${JSON.stringify({ name: "fieldtest-stacks", private: true, type: "module", main: GENERATED_PROGRAM }, null, 2)}\n`);
  // The running code's program: infra/index.ts in a checkout, the compiled build/infra/index.js of an installed package.
  const program = pathToFileURL(codeFile("infra/index")).href;
  await writeFile(join(dir, GENERATED_PROGRAM), `// Written by fieldtest at every \`up --cloud\`: the installed package's Pulumi program.\nexport * from ${JSON.stringify(program)};\n`);
  await rm(join(dir, "node_modules"), { force: true });
  await symlink(dependenciesDir(), join(dir, "node_modules"), "dir");
}

/** The `node_modules` folder that holds the `@pulumi/pulumi` this package resolves. */
function dependenciesDir(): string {
  const sdkEntry = fileURLToPath(import.meta.resolve("@pulumi/pulumi"));
  const marker = `${sep}node_modules${sep}@pulumi${sep}pulumi${sep}`;
  return sdkEntry.slice(0, sdkEntry.lastIndexOf(marker) + `${sep}node_modules`.length);
}
