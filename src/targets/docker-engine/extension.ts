import { buffer } from "node:stream/consumers";
import type Docker from "dockerode";
import { extract as tarExtract, pack as tarPack } from "tar-stream";
import { LABELS } from "../../core/namespace.ts";
import { isGoneOrGoing } from "./docker.ts";
import type { LabelledContainer } from "./labels.ts";

/**
 * Docker labels cannot change, so `fieldtest extend` writes the new expiry (unix seconds) into
 * the container itself. The agent's entrypoint and the engine's reaper read it there, and so
 * does every listing here: the container's own filesystem is the one place it is kept.
 */
export const EXTENDED_EXPIRY_PATH = "/var/lib/fieldtest/expires-at";

export async function writeExtendedExpiry(docker: Docker, id: string, expiresAt: Date): Promise<void> {
  const archive = tarPack();
  archive.entry({ name: EXTENDED_EXPIRY_PATH.slice(1), mode: 0o644 }, `${Math.floor(expiresAt.getTime() / 1000)}\n`);
  archive.finalize();
  await docker.getContainer(id).putArchive(await buffer(archive), { path: "/" });
}

/** The expiry `extend` wrote into the container, or undefined when it was never extended (or is gone). */
export async function readExtendedExpiry(docker: Docker, id: string): Promise<Date | undefined> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getContainer(id).getArchive({ path: EXTENDED_EXPIRY_PATH });
  } catch (error) {
    if (isGoneOrGoing(error)) return undefined;
    throw error;
  }
  const text = await firstEntryText(stream);
  return /^\d+$/.test(text.trim()) ? new Date(Number(text.trim()) * 1000) : undefined;
}

function firstEntryText(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const extract = tarExtract();
    let text = "";
    extract.on("entry", (_header, entry, next) => {
      entry.on("data", (chunk) => (text += String(chunk)));
      entry.on("end", next);
    });
    extract.on("finish", () => resolve(text));
    extract.on("error", reject);
    stream.pipe(extract);
  });
}

/** The containers as listings should show them: the expiry label replaced by an extension where there is one. */
export async function withEffectiveExpiry(docker: Docker, containers: readonly LabelledContainer[]): Promise<LabelledContainer[]> {
  return Promise.all(
    containers.map(async (container) => {
      const extended = await readExtendedExpiry(docker, container.Id);
      if (!extended) return container;
      return { ...container, Labels: { ...container.Labels, [LABELS.expiresAt]: String(Math.floor(extended.getTime() / 1000)) } };
    }),
  );
}
