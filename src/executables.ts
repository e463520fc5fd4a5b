import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(() => true, () => false);
}

/** A path is taken as it is; a bare name is looked up on PATH. Undefined when not executable. */
export async function findExecutable(nameOrPath: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (nameOrPath.includes("/")) return (await isExecutable(nameOrPath)) ? nameOrPath : undefined;
  for (const dir of (env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, nameOrPath);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}
