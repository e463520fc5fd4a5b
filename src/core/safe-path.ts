import { constants } from "node:fs";
import { lstat, mkdir, open, type FileHandle } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";

/**
 * What fieldtest writes locally from what agents send back (fetch-run, dumps, downloads). An
 * agent runs the software under test and may be compromised: every name it sends is checked
 * here before it becomes a local path, and every byte it sends counts against a budget.
 */

/** The run ids fieldtest makes (`newRunId`): `20250131-142501-3fa9`. */
const RUN_ID = /^\d{8}-\d{6}-[0-9a-f]{4}$/;

export function isRunId(value: string): boolean {
  return RUN_ID.test(value);
}

export class UnsafePathError extends Error {}

/** One segment of a name an agent sent: printable, not `.` or `..`, no separator. */
const SEGMENT = /^[^\u0000-\u001f\u007f/\\]+$/;

/**
 * `root` joined with the relative path `rel` that an agent sent, refused unless every segment is
 * a plain name and the result is inside `root`.
 */
export function pathInside(root: string, rel: string): string {
  const segments = rel.split("/");
  if (isAbsolute(rel) || segments.some((s) => !SEGMENT.test(s) || s === "." || s === "..")) {
    throw new UnsafePathError(`refused the path ${JSON.stringify(rel)} sent by an agent: only plain relative names are accepted`);
  }
  const full = resolve(root, ...segments);
  const inside = relative(resolve(root), full);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) throw new UnsafePathError(`refused the path ${JSON.stringify(rel)}: it leaves ${root}`);
  return full;
}

/**
 * Makes the directories between `root` and `path` (owner-only), refusing any that exists as
 * something other than a directory: a symlink planted there must not carry the write elsewhere.
 */
export async function makeParentsInside(root: string, path: string): Promise<void> {
  const segments = relative(resolve(root), resolve(path)).split("/").slice(0, -1);
  let dir = resolve(root);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const segment of segments) {
    dir = join(dir, segment);
    const info = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw error;
    });
    if (!info) await mkdir(dir, { mode: 0o700 });
    else if (!info.isDirectory()) throw new UnsafePathError(`refused to write under ${dir}: it is not a directory (a symlink?)`);
  }
}

/** Opens `root/rel` for writing, owner-only, never through a symlink; its directories are made as above. */
export async function openInside(root: string, rel: string, mode: "truncate" | "append"): Promise<FileHandle> {
  const path = pathInside(root, rel);
  await makeParentsInside(root, path);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (mode === "append" ? constants.O_APPEND : constants.O_TRUNC);
  return open(path, flags, 0o600).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ELOOP") throw new UnsafePathError(`refused to write ${path}: it is a symlink`);
    throw error;
  });
}

export interface ReceiveLimits {
  files: number;
  bytes: number;
}

/** What one fetch-run, dump or download accepts from an agent before it stops. */
export const DEFAULT_RECEIVE_LIMITS: ReceiveLimits = { files: 50_000, bytes: 16 * 1024 ** 3 };

/** Counts files and bytes received from an agent; throws once either passes its limit. */
export class ReceiveBudget {
  #files = 0;
  #bytes = 0;

  constructor(private readonly limits: ReceiveLimits = DEFAULT_RECEIVE_LIMITS, private readonly what = "the agent's files") {}

  file(): void {
    if (++this.#files > this.limits.files) throw new UnsafePathError(`${this.what}: more than ${this.limits.files} files; stopped there`);
  }

  bytes(count: number): void {
    this.#bytes += count;
    if (this.#bytes > this.limits.bytes) throw new UnsafePathError(`${this.what}: more than ${this.limits.bytes} bytes; stopped there`);
  }
}
