// A user's own project, as a new user makes one: `"type": "module"` and fieldtest installed
// from its packed tarball, the real install path (from the npm cache where it can).
import { execFile } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./fleet.ts";

const run = promisify(execFile);

/** Packs this checkout into `project` and installs it there, beside a package.json of the project's own. */
export async function installPackedFieldtest(project: string): Promise<void> {
  await run("npm", ["pack", "--silent", "--pack-destination", project], { cwd: ROOT });
  const tarball = (await readdir(project)).find((file) => file.endsWith(".tgz"))!;
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "trial", private: true, type: "module" }));
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--omit=dev", "--ignore-scripts", `./${tarball}`], { cwd: project, maxBuffer: 16 << 20 });
}
