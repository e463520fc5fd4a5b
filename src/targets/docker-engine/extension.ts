import { buffer } from "node:stream/consumers";
import type Docker from "dockerode";
import { pack as tarPack } from "tar-stream";
import { LABELS } from "../../core/namespace.ts";
import { isGoneOrGoing } from "./docker.ts";
import type { LabelledContainer } from "./labels.ts";

/**
 * Docker labels cannot change, so `fieldtest extend` records the new expiry (unix seconds) in a
 * Docker volume of its own, whose labels name the container: the agent cannot write there, so the
 * engine's reaper and every listing read it, never the agent's filesystem. A copy goes into the
 * container for the agent's own timer, which a compromised agent may move as it likes: the
 * reaper still removes the container at the recorded expiry.
 */
export const EXTENDED_EXPIRY_PATH = "/var/lib/fieldtest/expires-at";
/** On an extension's volume: the id of the container it extends. */
export const EXTENDS_LABEL = "fieldtest-extends";

export async function writeExtendedExpiry(docker: Docker, id: string, expiresAt: Date): Promise<void> {
  const seconds = Math.floor(expiresAt.getTime() / 1000);
  const { Id, Config } = await docker.getContainer(id).inspect();
  const name = `fieldtest-extension-${Id.slice(0, 12)}-${seconds}`;
  await docker.createVolume({
    Name: name,
    Labels: { [LABELS.namespace]: Config.Labels[LABELS.namespace] ?? "", [LABELS.owner]: Config.Labels[LABELS.owner] ?? "", [LABELS.expiresAt]: String(seconds), [EXTENDS_LABEL]: Id },
  });
  for (const old of (await extensionVolumes(docker)).filter((v) => v.Labels[EXTENDS_LABEL] === Id && v.Name !== name)) {
    await docker.getVolume(old.Name).remove().catch((error) => {
      if (!isGoneOrGoing(error)) throw error;
    });
  }
  const archive = tarPack();
  archive.entry({ name: EXTENDED_EXPIRY_PATH.slice(1), mode: 0o644 }, `${seconds}\n`);
  archive.finalize();
  await docker.getContainer(Id).putArchive(await buffer(archive), { path: "/" });
}

async function extensionVolumes(docker: Docker): Promise<{ Name: string; Labels: Record<string, string> }[]> {
  const { Volumes } = await docker.listVolumes({ filters: { label: [EXTENDS_LABEL] } });
  return (Volumes ?? []).map((v) => ({ Name: v.Name, Labels: v.Labels ?? {} }));
}

/** Each extended container's recorded expiry, by container id; the latest where two records race. */
async function extensions(docker: Docker): Promise<Map<string, Date>> {
  const byContainer = new Map<string, Date>();
  for (const volume of await extensionVolumes(docker)) {
    const id = volume.Labels[EXTENDS_LABEL];
    const seconds = volume.Labels[LABELS.expiresAt];
    if (!id || !seconds || !/^\d+$/.test(seconds)) continue;
    const at = new Date(Number(seconds) * 1000);
    const known = byContainer.get(id);
    if (!known || known < at) byContainer.set(id, at);
  }
  return byContainer;
}

/** The expiry `extend` recorded for the container, or undefined when it was never extended. */
export async function readExtendedExpiry(docker: Docker, id: string): Promise<Date | undefined> {
  const { Id } = await docker.getContainer(id).inspect().catch((error) => {
    if (isGoneOrGoing(error)) return { Id: id };
    throw error;
  });
  return (await extensions(docker)).get(Id);
}

/** The containers as listings should show them: the expiry label replaced by an extension where there is one. */
export async function withEffectiveExpiry(docker: Docker, containers: readonly LabelledContainer[]): Promise<LabelledContainer[]> {
  if (containers.length === 0) return [];
  const extended = await extensions(docker);
  return containers.map((container) => {
    const at = extended.get(container.Id);
    if (!at) return container;
    return { ...container, Labels: { ...container.Labels, [LABELS.expiresAt]: String(Math.floor(at.getTime() / 1000)) } };
  });
}

/** Removes the namespace's extension records, with its containers (the reaper removes orphans too). */
export async function removeExtensions(docker: Docker, namespace: string): Promise<void> {
  for (const volume of (await extensionVolumes(docker)).filter((v) => v.Labels[LABELS.namespace] === namespace)) {
    await docker.getVolume(volume.Name).remove().catch((error) => {
      if (!isGoneOrGoing(error)) throw error;
    });
  }
}
