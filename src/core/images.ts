import { readdirSync } from "node:fs";
import { DEFAULT_IMAGE } from "./defaults.ts";

const DOCKERFILE_SUFFIX = ".Dockerfile";

/** The image name a user's Dockerfile extends: `FROM fieldtest-agent:debian`. */
export const AGENT_IMAGE_REPOSITORY = "fieldtest-agent";
/** The build argument that holds the exact agent image a Dockerfile may extend: `FROM ${FIELDTEST_AGENT_IMAGE}`. */
export const AGENT_IMAGE_BUILD_ARG = "FIELDTEST_AGENT_IMAGE";

/**
 * The aliases of fieldtest's images a Dockerfile extends: `FROM fieldtest-agent:debian`, or
 * `FROM ${FIELDTEST_AGENT_IMAGE}` (the debian image, passed as a build argument), that one first.
 */
export function extendedImageAliases(dockerfileText: string): string[] {
  const pattern = new RegExp(`^\\s*FROM\\s+(?:--\\S+\\s+)*${AGENT_IMAGE_REPOSITORY}:([a-z0-9][a-z0-9_-]*)`, "gim");
  const named = [...dockerfileText.matchAll(pattern)].map((m) => m[1]!);
  const viaArgument = new RegExp(`\\$\\{?${AGENT_IMAGE_BUILD_ARG}\\b`).test(dockerfileText) ? [DEFAULT_IMAGE] : [];
  return [...new Set([...viaArgument, ...named])];
}

/** `debian` → `debian.Dockerfile`. */
export function dockerfileName(alias: string): string {
  return `${alias}${DOCKERFILE_SUFFIX}`;
}

/** Image aliases a stack or `up --cloud` may name: `debian` for `dockerfiles/debian.Dockerfile`. */
export function dockerfileAliases(dockerfilesDir: string): string[] {
  return readdirSync(dockerfilesDir)
    .filter((file) => file.endsWith(DOCKERFILE_SUFFIX))
    .map((file) => file.slice(0, -DOCKERFILE_SUFFIX.length))
    .sort();
}

/** An image alias: the name of `dockerfiles/<alias>.Dockerfile`. */
export const IMAGE_ALIAS_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

/** `[registry[:port]/]path[:tag][@sha256:digest]`, as Docker spells an image reference. */
const IMAGE_REFERENCE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;

/** A published image (`ghcr.io/org/node:1.2`, `redis:7`) rather than the alias of a Dockerfile. */
export function isPublishedImage(image: string): boolean {
  return /[/:@]/.test(image) && IMAGE_REFERENCE.test(image);
}
