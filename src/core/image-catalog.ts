import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { AGENT_IMAGE_REPOSITORY, dockerfileAliases, dockerfileName, extendedImageAliases } from "./images.ts";

/**
 * Where a fleet's image aliases are found, and in which order they are built: the same rules for
 * localhost, SSH hosts and clouds, so that a project's images mean the same everywhere.
 */

/** Where a fleet's image aliases are looked for. */
export interface ImageCatalog {
  /** The user's directories of Dockerfiles, searched first, in order (missing ones are skipped). */
  projectDirs: readonly string[];
  /** fieldtest's own `dockerfiles/`: the agent image (`debian`) that users' images may extend. */
  fieldtestDir: string;
}

/** One image to build: `<dir>/<alias>.Dockerfile`, with `<dir>` as its build context. */
export interface ImageSource {
  alias: string;
  dir: string;
}

export class ImageCatalogError extends Error {}

/** The catalog's directories in search order, each once, absolute. */
export function catalogDirs(catalog: ImageCatalog): string[] {
  return [...new Set([...catalog.projectDirs, catalog.fieldtestDir].map((dir) => resolve(dir)))];
}

function aliasesIn(dir: string): string[] {
  try {
    return dockerfileAliases(dir);
  } catch {
    return [];
  }
}

/** Every alias the catalog can build, each once. */
export function catalogAliases(catalog: ImageCatalog): string[] {
  return [...new Set(catalogDirs(catalog).flatMap(aliasesIn))].sort();
}

/** `alias` → the first directory of the catalog holding `<alias>.Dockerfile`, or an error naming where it was looked for and the fix. */
export function findImage(catalog: ImageCatalog, alias: string): ImageSource {
  const dirs = catalogDirs(catalog);
  const dir = dirs.find((d) => aliasesIn(d).includes(alias));
  if (dir) return { alias, dir };
  throw new ImageCatalogError(
    `image "${alias}": no ${dockerfileName(alias)} in ${dirs.join(", ")}; known images: ${catalogAliases(catalog).join(", ") || "none"}. ` +
      `Add dockerfiles/${dockerfileName(alias)} to your project (it may start FROM ${AGENT_IMAGE_REPOSITORY}:debian)`,
  );
}

/**
 * The images to build for `aliases`, each after the images it extends (`FROM
 * fieldtest-agent:<alias>`, looked up in the same catalog, so a project's image may extend
 * another of the project's): a base no group runs is built too, since nothing can pull it.
 */
export function imageBuildOrder(catalog: ImageCatalog, aliases: readonly string[]): Array<ImageSource & { bases: string[] }> {
  const ordered: Array<ImageSource & { bases: string[] }> = [];
  const visiting: string[] = [];
  const visit = (alias: string, extendedBy?: string): void => {
    if (ordered.some((image) => image.alias === alias)) return;
    let source;
    try {
      source = findImage(catalog, alias);
    } catch (error) {
      if (extendedBy === undefined || !(error instanceof ImageCatalogError)) throw error;
      throw new ImageCatalogError(`${extendedBy} extends ${AGENT_IMAGE_REPOSITORY}:${alias}, which is found nowhere: ${error.message}`);
    }
    const file = join(source.dir, dockerfileName(alias));
    if (visiting.includes(alias)) {
      throw new ImageCatalogError(`${file} extends itself (through ${[...visiting, alias].join(" → ")}): no image can be built first; give your image a name of its own`);
    }
    visiting.push(alias);
    const bases = extendedImageAliases(readFileSync(file, "utf8"));
    bases.forEach((base) => visit(base, file));
    visiting.pop();
    ordered.push({ ...source, bases });
  };
  aliases.forEach((alias) => visit(alias));
  return ordered;
}

/** The build context: the Dockerfile and every file of its directory that is not another Dockerfile. */
export function imageContextFiles({ dir, alias }: ImageSource): string[] {
  const others = readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/"))
    // Dot files (.dockerignore, editor leftovers) are not the image's content: the tag stays put when they change.
    .filter((file) => !file.endsWith(".Dockerfile") && !file.split("/").some((part) => part.startsWith(".")));
  return [dockerfileName(alias), ...others.sort()];
}

/**
 * `<alias>-<hash>`: a tag that names the image's content, its build context and the tags of the
 * images it extends, so it is the same on every machine and after any rebuild of the same files.
 */
export function imageContentTag(source: ImageSource, baseTags: readonly string[] = []): string {
  const digest = createHash("sha256");
  for (const base of baseTags) digest.update(`base ${base}\0`);
  for (const file of imageContextFiles(source)) digest.update(`${file}\0`).update(readFileSync(join(source.dir, file))).update("\0");
  return `${source.alias}-${digest.digest("hex").slice(0, 12)}`;
}
