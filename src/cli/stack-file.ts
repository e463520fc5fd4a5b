import { join } from "node:path";
import { stackProjectDir } from "../targets/pulumi/stack-project.ts";
import { parseInstanceTypes, ShapeError, type InstanceType } from "../core/shapes.ts";
import type { Namespace } from "../core/namespace.ts";
import { readStackFileConfig } from "../targets/pulumi/stack-file.ts";
import { UsageError } from "./context.ts";

/**
 * The machine-type table of a namespace's stack file (`stacks/Pulumi.<ns>.yaml` of the Pulumi
 * project, key `fieldtest:instanceTypes`), which replaces the built-in one for its shapes;
 * undefined when the file or the key is absent.
 */
export async function stackInstanceTypes(context: { env: NodeJS.ProcessEnv; packageRoot: string }, namespace: Namespace): Promise<InstanceType[] | undefined> {
  const stacksDir = join(stackProjectDir(context), "stacks");
  try {
    const config = await readStackFileConfig(stacksDir, namespace);
    return parseInstanceTypes(config["fieldtest:instanceTypes"], join(stacksDir, `Pulumi.${namespace}.yaml`));
  } catch (error) {
    if (error instanceof ShapeError) throw new UsageError(error.message);
    throw error;
  }
}
