// fieldtest as a user gets it: `npm pack` of this checkout (its prepack builds build/),
// installed from the tarball into a fresh `"type": "module"` project.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Test } from "tap";
import { ROOT, tempHome, type CliResult } from "./fleet.ts";

const run = promisify(execFile);

export interface PackedProject {
  /** The user's project: package.json, node_modules/fieldtest. */
  dir: string;
  /** The tarball `npm pack` made, in `dir`. */
  tarball: string;
  /** What `npm install` of the tarball printed on stderr (its warnings). */
  installWarnings: string;
  /** Runs a command in the project, never throwing: its exit code and output. */
  exec(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Runs the project's `fieldtest` (node_modules/.bin/fieldtest). */
  fieldtest(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
}

/** Packs this checkout and installs the tarball into a new project, removed when `t` ends. */
export async function installPackedFieldtest(t: Test): Promise<PackedProject> {
  const dir = await tempHome(t);
  const exec = (file: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    run(file, args, { cwd: dir, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? null, stdout: error.stdout ?? "", stderr: error.stderr ?? "" }),
    );
  // npm pack rebuilds build/ in this checkout (prepack): one pack at a time, or a parallel test
  // file's pack would remove the build this one is packing.
  await mkdir(join(ROOT, ".tap"), { recursive: true });
  await run("flock", [join(ROOT, ".tap", "npm-pack.lock"), "npm", "pack", "--silent", "--pack-destination", dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  const tarball = (await readdir(dir)).find((file) => file.endsWith(".tgz"))!;
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "trial", private: true, type: "module" }));
  // The real install path, from the npm cache where it can (the registry otherwise); the
  // dependencies' own install scripts only build optional native parts (ssh2) or check a binary (esbuild).
  const install = await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", `./${tarball}`], { cwd: dir, maxBuffer: 16 << 20 });
  return { dir, tarball, installWarnings: install.stderr, exec, fieldtest: (args, env) => exec(join(dir, "node_modules", ".bin", "fieldtest"), args, env) };
}

/**
 * The cloud SDKs, optional peers that the install leaves out, as `npm i @pulumi/pulumi @pulumi/gcp
 * …` would add them: linked from this checkout's node_modules with whatever they need that the
 * project lacks, so no download.
 */
export async function linkCloudSdks(project: string): Promise<void> {
  const link = async (from: string, to: string): Promise<void> => {
    for (const entry of await readdir(from)) {
      if (entry.startsWith(".")) continue;
      const target = join(to, entry);
      if (entry.startsWith("@") && existsSync(target)) await link(join(from, entry), target);
      else if (!existsSync(target)) await symlink(join(from, entry), target);
    }
  };
  await link(join(ROOT, "node_modules"), join(project, "node_modules"));
}
