import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type Docker from "dockerode";
import type { Progress } from "../progress.ts";
import { dockerfileName } from "../core/images.ts";
import { isNotFound } from "./docker.ts";

export interface AgentImageSource {
  /** `dockerfiles/` of the fieldtest package. */
  dockerfilesDir: string;
  /** `debian` → `dockerfiles/debian.Dockerfile`. */
  alias: string;
}

/** The build context of one alias: its Dockerfile and the shared `agent/` folder. */
async function contextFiles({ dockerfilesDir, alias }: AgentImageSource): Promise<string[]> {
  const agentDir = join(dockerfilesDir, "agent");
  const entries = await readdir(agentDir, { recursive: true, withFileTypes: true });
  const agentFiles = entries.filter((e) => e.isFile()).map((e) => relative(dockerfilesDir, join(e.parentPath, e.name)).split(sep).join("/"));
  return [dockerfileName(alias), ...agentFiles.sort()];
}

/** Tags carry a hash of the build context, so a changed Dockerfile means a new image. */
export async function agentImageTag(source: AgentImageSource): Promise<string> {
  const digest = createHash("sha256");
  for (const file of await contextFiles(source)) {
    digest.update(`${file}\0`).update(await readFile(join(source.dockerfilesDir, file))).update("\0");
  }
  return `fieldtest-agent:${source.alias}-${digest.digest("hex").slice(0, 12)}`;
}

/** Builds the agent image unless the engine already has this exact version of it. */
export async function ensureAgentImage(docker: Docker, source: AgentImageSource, progress: Progress): Promise<string> {
  const dockerfile = join(source.dockerfilesDir, dockerfileName(source.alias));
  await readFile(dockerfile).catch(() => {
    throw new Error(`image: no ${dockerfile}; available images are the *.Dockerfile files in ${source.dockerfilesDir}`);
  });
  const tag = await agentImageTag(source);
  try {
    await docker.getImage(tag).inspect();
    return tag;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  progress.step(`building agent image ${tag} (first run only)`);
  const stream = await docker.buildImage(
    { context: source.dockerfilesDir, src: await contextFiles(source) },
    { t: tag, dockerfile: dockerfileName(source.alias), labels: { "fieldtest-image": source.alias } },
  );
  const output: string[] = [];
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: { stream?: string; error?: string }) => {
        if (event.stream) output.push(event.stream);
        if (event.error) output.push(event.error);
      },
    );
  }).catch((error: Error) => {
    const tail = output.join("").trim().split("\n").slice(-15).join("\n");
    const hint = /debian:bookworm/.test(tail) ? "\n(no debian:bookworm base image: run scripts/build-base-image.sh)" : "";
    throw new Error(`building ${tag} from ${dockerfile} failed: ${error.message}\n${tail}${hint}`);
  });
  return tag;
}
