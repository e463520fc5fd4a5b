import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { processExists } from "../../core/process.ts";

/**
 * One `up --cloud` (or `extend`) of a namespace at a time on this machine: a second one would
 * rewrite the stack's config before Pulumi's own lock refuses its update, and the next `up` would
 * then replace the VMs. The lock is a file made exclusively, naming the process that holds it; a
 * holder that died on this host leaves a stale lock, which the next one takes over.
 */

export class NamespaceLockedError extends Error {}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

export interface NamespaceLock {
  release: () => Promise<void>;
}

export async function lockNamespace(stateDir: string, namespace: string, what: string): Promise<NamespaceLock> {
  const dir = join(stateDir, "locks");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${namespace}.lock`);
  const holder: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, `${JSON.stringify(holder)}\n`, { flag: "wx", mode: 0o600 });
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const current = await readFile(path, "utf8").then((text) => JSON.parse(text) as Holder, () => undefined);
    if (current && (current.host !== holder.host || processExists(current.pid))) {
      throw new NamespaceLockedError(
        `namespace ${namespace} is busy: ${current.host === holder.host ? `process ${current.pid}` : `a process on ${current.host}`} has held it since ${current.since} for another up or extend. ` +
          `Wait for it to end, or remove ${path} if that process is gone. Nothing was changed by ${what}.`,
      );
    }
    // Its holder died on this host (or the file is unreadable): the lock is stale.
    await rm(path, { force: true });
  }
  throw new NamespaceLockedError(`namespace ${namespace}: another process took its lock (${path}) at the same moment. Nothing was changed by ${what}.`);
}
