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

/** `name` in each directory of PATH, in PATH's order. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string[] {
  return (env.PATH ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, name));
}

/** A path is taken as it is; a bare name is looked up on PATH. Undefined when not executable. */
export function findExecutable(nameOrPath: string, env: NodeJS.ProcessEnv): string | undefined {
  if (nameOrPath.includes("/")) return isExecutable(nameOrPath) ? nameOrPath : undefined;
  return onPath(nameOrPath, env).find(isExecutable);
}
