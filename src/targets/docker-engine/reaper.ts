import type Docker from "dockerode";
import { LABELS, labelValue } from "../../core/namespace.ts";
import type { Progress } from "../../core/progress.ts";
import { isGoneOrGoing, isNotFound } from "./docker.ts";
import { ensureAgentImage } from "./image.ts";

/**
 * The reaper makes the TTL independent of the runner, in every window of a crash: one container
 * per engine and owner, running the agent image's `fieldtest-reaper`, that removes the owner's
 * containers whose expiry has passed whatever their state (Created ones included, which have no
 * timer of their own) and exits when none is left. `up` makes sure it runs before it creates
 * agents and again before it starts them.
 *
 * It mounts the engine's socket, which is root on the engine's host: it is fieldtest's own
 * script in fieldtest's own image, with no network, and it only removes containers labelled with
 * a fieldtest namespace and its owner.
 */
export const REAPER_LABEL = "fieldtest-reaper";
/** The image alias whose Dockerfile installs the reaper's script (and curl, jq). */
export const REAPER_IMAGE_ALIAS = "debian";
const ENGINE_SOCKET = "/var/run/docker.sock";
const ATTEMPTS = 20;

export function reaperName(owner: string): string {
  return `fieldtest-reaper-${labelValue(owner)}`;
}

export interface ReaperOptions {
  owner: string;
  /** `dockerfiles/` of the fieldtest package; the reaper runs the `debian` agent image. */
  dockerfilesDir: string;
  progress: Progress;
}

/** Starts the owner's reaper on this engine unless it is running already; safe to race. */
export async function ensureReaper(docker: Docker, options: ReaperOptions): Promise<void> {
  await startReaper(docker, options.owner, await ensureReaperImage(docker, options.dockerfilesDir, options.progress));
}

/** The reaper's image (fieldtest's `debian` agent image), built if the engine lacks it. */
export function ensureReaperImage(docker: Docker, dockerfilesDir: string, progress: Progress): Promise<string> {
  return ensureAgentImage(docker, { dockerfilesDir, alias: REAPER_IMAGE_ALIAS }, progress);
}

/** ensureReaper with its image already made: `up` checks the image once and the reaper twice. */
export async function startReaper(docker: Docker, owner: string, image: string): Promise<void> {
  const name = reaperName(owner);
  for (let attempt = 1; ; attempt++) {
    try {
      if (await startExisting(docker, name)) return;
      await create(docker, name, image, owner);
      return;
    } catch (error) {
      // Another `up` made it meanwhile, or the old one is still being removed: look again.
      if (!isGoneOrGoing(error) || attempt === ATTEMPTS) throw new Error(`could not start the reaper container ${name}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** True when a reaper of this name runs now (started here if it had only been created). */
async function startExisting(docker: Docker, name: string): Promise<boolean> {
  const container = docker.getContainer(name);
  let running: boolean;
  try {
    running = (await container.inspect()).State.Running;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
  if (!running) {
    await container.start().catch((error) => {
      // 304: another `up` started it between the inspect and here.
      if ((error as { statusCode?: number }).statusCode !== 304) throw error;
    });
  }
  return true;
}

async function create(docker: Docker, name: string, image: string, owner: string): Promise<void> {
  const container = await docker.createContainer({
    name,
    Image: image,
    Entrypoint: ["/usr/local/bin/fieldtest-reaper"],
    Cmd: [],
    Env: [`FIELDTEST_REAPER_OWNER=${labelValue(owner)}`],
    // No fieldtest-namespace label: the reaper belongs to no fleet and is never listed as one.
    Labels: { [REAPER_LABEL]: labelValue(owner), [LABELS.owner]: labelValue(owner) },
    HostConfig: { AutoRemove: true, Init: true, NetworkMode: "none", Binds: [`${ENGINE_SOCKET}:${ENGINE_SOCKET}`] },
  });
  await container.start();
}
