import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseInstanceTypes, ShapeError, type InstanceType } from "../core/shapes.ts";
import type { Namespace } from "../core/namespace.ts";
import { UsageError } from "./context.ts";

/**
 * The machine-type table of a namespace's stack file (`stacks/Pulumi.<ns>.yaml`, key
 * `fieldtest:instanceTypes`), which replaces the built-in one for its shapes; undefined when the
 * file or the key is absent.
 */
export async function stackInstanceTypes(projectDir: string, namespace: Namespace): Promise<InstanceType[] | undefined> {
  const path = join(projectDir, "stacks", `Pulumi.${namespace}.yaml`);
  const text = await readFile(path, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  const config = (parseYaml(text) as { config?: Record<string, unknown> } | null)?.config ?? {};
  try {
    return parseInstanceTypes(config["fieldtest:instanceTypes"], path);
  } catch (error) {
    if (error instanceof ShapeError || error instanceof SyntaxError) throw new UsageError((error as Error).message);
    throw error;
  }
}
