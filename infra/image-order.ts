import { readFileSync } from "node:fs";
import * as path from "node:path";
import { dockerfileName, extendedImageAliases } from "../src/core/images.ts";

/**
 * The image aliases to build for a fleet, each after the fieldtest images it extends (`FROM
 * fieldtest-agent:debian`): a base no group runs is built too, since nothing can pull it.
 */
export function imageBuildOrder(dockerfilesDir: string, aliases: readonly string[]): Array<{ alias: string; bases: string[] }> {
  const ordered: Array<{ alias: string; bases: string[] }> = [];
  const visiting = new Set<string>();
  const visit = (alias: string): void => {
    if (ordered.some((image) => image.alias === alias)) return;
    if (visiting.has(alias)) throw new Error(`${dockerfileName(alias)} extends itself (through ${[...visiting, alias].join(" → ")}): no image can be built first`);
    visiting.add(alias);
    const bases = extendedImageAliases(readFileSync(path.join(dockerfilesDir, dockerfileName(alias)), "utf8"));
    bases.forEach(visit);
    visiting.delete(alias);
    ordered.push({ alias, bases });
  };
  aliases.forEach(visit);
  return ordered;
}
