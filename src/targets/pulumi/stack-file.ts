import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import type { Namespace } from "../../core/namespace.ts";

/**
 * The config a namespace's stack file (`<stacksDir>/Pulumi.<ns>.yaml`) already holds, read
 * without the Pulumi CLI so that `up --cloud --dry-run` shows the same plan as `up`: its anchored
 * `fieldtest:expiresAt`, and the keys the flags do not set (`fieldtest:sshSourceRanges`,
 * `fieldtest:openPorts`, …). No file: a new stack, nothing stored.
 */
export async function readStackFileConfig(stacksDir: string, namespace: Namespace): Promise<Record<string, unknown>> {
  const file = join(stacksDir, `Pulumi.${namespace}.yaml`);
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw new Error(`stack file ${file} cannot be read (${error.message}): fix its permissions, or remove it to start the stack afresh`);
  });
  if (text === undefined) return {};
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new Error(`stack file ${file} is not YAML (${(error as Error).message}): fix it, or remove it to start the stack afresh`);
  }
  const config = (document as { config?: unknown } | null)?.config;
  if (config === undefined || config === null) return {};
  if (typeof config !== "object" || Array.isArray(config)) throw new Error(`stack file ${file}: \`config\` is not a map of keys to values`);
  return config as Record<string, unknown>;
}
