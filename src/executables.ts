import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A path is taken as it is; a bare name is looked up on PATH. Undefined when not executable. */
export function findExecutable(nameOrPath: string, env: NodeJS.ProcessEnv): string | undefined {
  if (nameOrPath.includes("/")) return isExecutable(nameOrPath) ? nameOrPath : undefined;
  return (env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, nameOrPath)).find(isExecutable);
}
