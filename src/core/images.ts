import { readdirSync } from "node:fs";

const DOCKERFILE_SUFFIX = ".Dockerfile";

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

/** A published image (`ghcr.io/org/node:1.2`, `redis:7`) rather than the alias of a Dockerfile. */
export function isPublishedImage(image: string): boolean {
  return image.includes("/") || image.includes(":");
}
