import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type Docker from "dockerode";
import type { Progress } from "../../core/progress.ts";
import { findImage, ImageCatalogError, imageBuildOrder, imageContentTag, imageContextFiles, type ImageCatalog } from "../../core/image-catalog.ts";
import { AGENT_IMAGE_BUILD_ARG, AGENT_IMAGE_REPOSITORY, dockerfileName, isPublishedImage } from "../../core/images.ts";
import { isNotFound } from "./docker.ts";

/**
 * Agent images: built from `<alias>.Dockerfile` in the user's project or in fieldtest's own
 * `dockerfiles/`, or published images pulled where a registry answers. Every image is checked
 * against the agent contract once, when it is made: sshd, and the TTL entrypoint.
 */

export interface AgentImageSource {
  /** The directory holding `<alias>.Dockerfile`; it is the build context too. */
  dockerfilesDir: string;
  /** `debian` → `dockerfiles/debian.Dockerfile`. */
  alias: string;
}

export { AGENT_IMAGE_BUILD_ARG, AGENT_IMAGE_REPOSITORY, type ImageCatalog };
/** Where a new image waits for its contract check. */
const UNCHECKED_REPOSITORY = "fieldtest-unchecked";
const ENTRYPOINT = "/usr/local/bin/fieldtest-agent";
const SSHD = "/usr/sbin/sshd";
/** The agent's keys come in its environment (provisioner.ts agentKeysEnv); an entrypoint that predates them leaves sshd without. */
const KEYS_VARIABLE = "FIELDTEST_HOST_KEY";

export class ImageError extends Error {}

/** Tags carry a hash of the build context (and of the image extended), so a changed Dockerfile means a new image. */
export async function agentImageTag(source: AgentImageSource, baseTags: readonly string[] = []): Promise<string> {
  return `${AGENT_IMAGE_REPOSITORY}:${imageContentTag({ dir: source.dockerfilesDir, alias: source.alias }, baseTags)}`;
}

/** The image's tags, or undefined when the engine has no such image. */
async function existingTags(docker: Docker, tag: string): Promise<string[] | undefined> {
  try {
    return (await docker.getImage(tag).inspect()).RepoTags ?? [];
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  return (await existingTags(docker, tag)) !== undefined;
}

/**
 * Builds the agent image unless the engine already has this exact version of it; a new image is
 * checked against the agent contract. `stableTag` (`fieldtest-agent:debian`) is moved to it
 * unless it already names it.
 */
export async function ensureAgentImage(docker: Docker, source: AgentImageSource, progress: Progress, baseTags: readonly string[] = [], stableTag?: string): Promise<string> {
  const dockerfile = join(source.dockerfilesDir, dockerfileName(source.alias));
  await readFile(dockerfile).catch(() => {
    throw new ImageError(`image: no ${dockerfile}; available images are the *.Dockerfile files in ${source.dockerfilesDir}`);
  });
  const tag = await agentImageTag(source, baseTags);
  const tags = await existingTags(docker, tag);
  if (tags) {
    if (stableTag && !tags.includes(stableTag)) await tagImage(docker, tag, stableTag);
    return tag;
  }
  progress.step(`building agent image ${tag} from ${dockerfile} (first run only)`);
  // Built under a provisional name: the final tag exists only on an image that passed the contract check.
  const unchecked = `${UNCHECKED_REPOSITORY}:${tag.slice(AGENT_IMAGE_REPOSITORY.length + 1)}`;
  const stream = await docker.buildImage(
    { context: source.dockerfilesDir, src: imageContextFiles({ dir: source.dockerfilesDir, alias: source.alias }) },
    {
      t: unchecked,
      dockerfile: dockerfileName(source.alias),
      labels: { "fieldtest-image": source.alias },
      ...(baseTags[0] ? { buildargs: { [AGENT_IMAGE_BUILD_ARG]: baseTags[0] } } : {}),
    },
  );
  await followBuild(docker, stream).catch((error: Error & { output?: string }) => {
    const tail = (error.output ?? "").trim().split("\n").slice(-15).join("\n");
    const hint = /debian:bookworm/.test(tail) ? "\n(no debian:bookworm base image: run scripts/build-base-image.sh)" : "";
    throw new ImageError(`building ${tag} from ${dockerfile} failed: ${error.message}\n${tail}${hint}`);
  });
  const problems = await contractProblems(docker, unchecked);
  if (problems.length) {
    await docker.getImage(unchecked).remove({ force: true }).catch(() => {});
    throw new ImageError(`${dockerfile} does not make a fieldtest agent:\n  ${problems.join("\n  ")}\nExtend fieldtest's agent image instead: FROM ${AGENT_IMAGE_REPOSITORY}:debian`);
  }
  await tagImage(docker, unchecked, tag).catch(async (error: Error) => {
    // A concurrent build of the same content may have finished first; its image is as good.
    if (!(await imageExists(docker, tag))) throw error;
  });
  // Only the provisional name goes: the image keeps its final tag.
  await docker.getImage(unchecked).remove().catch(() => {});
  if (stableTag) await tagImage(docker, tag, stableTag);
  return tag;
}

function tagImage(docker: Docker, image: string, repoTag: string): Promise<unknown> {
  const colon = repoTag.lastIndexOf(":");
  return docker.getImage(image).tag({ repo: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) });
}

export function followBuild(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  const output: string[] = [];
  return new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(Object.assign(error, { output: output.join("") })) : resolve()),
      (event: { stream?: string; error?: string }) => {
        if (event.stream) output.push(event.stream);
        if (event.error) output.push(event.error);
      },
    );
  });
}

/**
 * What an image lacks to be an agent: the TTL entrypoint as its entrypoint, and the programs it
 * runs (sshd and an entrypoint script that installs the keys it is given), looked for in a
 * short-lived container of the image.
 */
export async function contractProblems(docker: Docker, tag: string): Promise<string[]> {
  const info = await docker.getImage(tag).inspect();
  const entrypoint = info.Config.Entrypoint ?? [];
  const problems: string[] = [];
  if (!(Array.isArray(entrypoint) ? entrypoint : [entrypoint]).some((part) => part === ENTRYPOINT || part.endsWith("/fieldtest-agent"))) {
    problems.push(`its ENTRYPOINT is ${JSON.stringify(entrypoint)}, not ${ENTRYPOINT} (the agent's TTL entrypoint, which also starts sshd on the agent's port)`);
  }
  const probe = await docker.createContainer({
    Image: tag,
    Entrypoint: [
      "/bin/sh",
      "-c",
      `for f in ${SSHD} ${ENTRYPOINT}; do [ -x "$f" ] || echo "missing $f"; done; [ ! -x ${ENTRYPOINT} ] || grep -qs ${KEYS_VARIABLE} ${ENTRYPOINT} || echo "stale ${ENTRYPOINT}"`,
    ],
    Cmd: [],
    Tty: true,
    Labels: { "fieldtest-role": "image-check" },
    HostConfig: { NetworkMode: "none" },
  });
  try {
    await probe.start().catch((error: Error) => {
      throw new ImageError(`it cannot run /bin/sh: ${error.message}`);
    });
    await probe.wait();
    const output = (await probe.logs({ stdout: true, stderr: true })).toString();
    for (const line of output.split(/\r?\n/)) {
      if (line.startsWith(`missing ${SSHD}`)) problems.push(`it has no ${SSHD} (install openssh-server: agents are reached through sshd)`);
      if (line.startsWith(`missing ${ENTRYPOINT}`)) problems.push(`it has no ${ENTRYPOINT} (COPY agent/fieldtest-agent from fieldtest's dockerfiles/)`);
      if (line.startsWith(`stale ${ENTRYPOINT}`)) {
        problems.push(`its ${ENTRYPOINT} is older than this fieldtest: it does not install the keys passed in ${KEYS_VARIABLE} (build it FROM the current ${AGENT_IMAGE_REPOSITORY}:debian)`);
      }
    }
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    problems.push(error.message);
  } finally {
    await probe.remove({ force: true }).catch(() => {});
  }
  return problems;
}

/** `alias` → the first directory of the catalog holding `<alias>.Dockerfile`. */
export function locateDockerfile(catalog: ImageCatalog, alias: string): AgentImageSource {
  try {
    const { dir } = findImage(catalog, alias);
    return { dockerfilesDir: dir, alias };
  } catch (error) {
    if (error instanceof ImageCatalogError) throw new ImageError(`${error.message}, or name a published image`);
    throw error;
  }
}

/** A published image: used if the engine has it, pulled otherwise; either way it must meet the agent contract. */
async function ensurePublishedImage(docker: Docker, reference: string, progress: Progress): Promise<string> {
  if (!(await imageExists(docker, reference))) {
    progress.step(`pulling ${reference}`);
    try {
      await followBuild(docker, await docker.pull(reference));
    } catch (error) {
      throw new ImageError(
        `image ${reference} is not on this Docker engine and cannot be pulled (${(error as Error).message.trim()}). ` +
          `Where no registry is reachable, load it first (docker load -i <file>), or build the agent from a dockerfiles/<alias>.Dockerfile`,
      );
    }
  }
  const problems = await contractProblems(docker, reference);
  if (problems.length) throw new ImageError(`published image ${reference} is not a fieldtest agent:\n  ${problems.join("\n  ")}`);
  return reference;
}

/**
 * The engine's tag for each image a fleet uses, each made once: aliases built from their
 * Dockerfile (the images they extend first), published references pulled.
 */
export async function ensureFleetImages(docker: Docker, catalog: ImageCatalog, images: readonly string[], progress: Progress): Promise<Map<string, string>> {
  const tags = new Map<string, string>();
  const built = new Map<string, string>();
  for (const image of new Set(images)) {
    tags.set(image, isPublishedImage(image) ? await ensurePublishedImage(docker, image, progress) : await ensureAliasImage(docker, catalog, image, built, progress));
  }
  return tags;
}

/** An alias's image, after the images it extends (`built` holds those made already); fieldtest's own also get their stable tag. */
async function ensureAliasImage(docker: Docker, catalog: ImageCatalog, alias: string, built: Map<string, string>, progress: Progress): Promise<string> {
  const fieldtestDir = resolve(catalog.fieldtestDir);
  let order;
  try {
    order = imageBuildOrder(catalog, [alias]);
  } catch (error) {
    if (error instanceof ImageCatalogError) throw new ImageError(error.message);
    throw error;
  }
  for (const { alias: each, dir, bases } of order) {
    if (built.has(each)) continue;
    const stableTag = dir === fieldtestDir ? `${AGENT_IMAGE_REPOSITORY}:${each}` : undefined;
    const tag = await ensureAgentImage(docker, { dockerfilesDir: dir, alias: each }, progress, bases.map((base) => built.get(base)!), stableTag);
    built.set(each, tag);
  }
  return built.get(alias)!;
}
