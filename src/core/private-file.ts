import { constants, type Stats } from "node:fs";
import { lstat, open } from "node:fs/promises";

/**
 * The state directory holds the keys that are root on every agent. Another local user who can
 * write there (a shared FIELDTEST_HOME, a world-writable directory) could plant a key of theirs
 * or a symlink to one: what fieldtest reads from it must be this user's, writable by no one else,
 * and reached without following a symlink.
 */
export class UnsafeStateError extends Error {}

function refuse(path: string, info: Stats, kind: "directory" | "file"): void {
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new UnsafeStateError(`the state ${kind} ${path} belongs to uid ${info.uid}, not to this user (uid ${uid}): another user may have planted it; remove it, or point FIELDTEST_HOME at a directory of your own`);
  }
  if (info.mode & 0o022) {
    throw new UnsafeStateError(`the state ${kind} ${path} is writable by its group or by everyone (mode ${(info.mode & 0o777).toString(8)}): run \`chmod go-w ${path}\` if its content is yours, or remove it`);
  }
}

/** Throws unless `path` is a directory (not a symlink) of this user that no one else may write; absent is fine. */
export async function assertPrivateDir(path: string): Promise<void> {
  const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (!info) return;
  if (!info.isDirectory()) throw new UnsafeStateError(`the state directory ${path} is not a directory (a symlink?): remove it`);
  refuse(path, info, "directory");
}

/** The text of a state file of this user's, opened without following a symlink; undefined when absent. */
export async function readPrivateFile(path: string): Promise<string | undefined> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    if (error.code === "ELOOP") throw new UnsafeStateError(`the state file ${path} is a symlink: remove it`);
    throw error;
  });
  if (!handle) return undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new UnsafeStateError(`the state file ${path} is not a regular file: remove it`);
    refuse(path, info, "file");
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}
