import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { HashWorkers } from "./content-hash.ts";

/**
 * Content hashes of local files, remembered by (path, size, mtime, inode) so a re-copy of an
 * unchanged 200 MB file costs a stat, not a re-read. One cache serves all agents of a run.
 */
export class HashCache {
  private readonly hashes = new Map<string, { fingerprint: string; hash: string }>();
  private readonly workers = new HashWorkers();

  /** Hashes being computed, so a file copied to many agents at once is read once. */
  private readonly inFlight = new Map<string, Promise<string>>();

  /** The file's content hash (see content-hash.ts). */
  async fileHash(path: string): Promise<string> {
    const info = await stat(path);
    const fingerprint = fingerprintOf(info);
    const cached = this.hashes.get(path);
    if (cached?.fingerprint === fingerprint) return cached.hash;
    const key = `${path}\0${fingerprint}`;
    let hashing = this.inFlight.get(key);
    if (!hashing) {
      hashing = this.workers.hashFile(path).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, hashing);
    }
    const hash = await hashing;
    this.remember(path, info, hash);
    return hash;
  }

  /** Ends the hashing threads; a later hash starts them again. */
  close(): Promise<void> {
    return this.workers.close();
  }

  /** Records a hash computed elsewhere (during a copy), for the file as `info` describes it before it was read. */
  remember(path: string, info: Stats, hash: string): void {
    this.hashes.set(path, { fingerprint: fingerprintOf(info), hash });
  }

  /** A hash of a directory tree: its own mode, then relative paths, modes and file contents, in sorted order. */
  async treeHash(root: string): Promise<string> {
    const digest = createHash("sha256");
    digest.update(`r ${(await stat(root)).mode & 0o7777}\n`);
    for (const path of await listTree(root)) {
      const info = await lstat(path);
      const name = relative(root, path).split(sep).join("/");
      if (info.isDirectory()) digest.update(`d ${name} ${info.mode & 0o7777}\n`);
      else if (info.isFile()) digest.update(`f ${name} ${info.mode & 0o7777} ${await this.fileHash(path)}\n`);
      else if (info.isSymbolicLink()) digest.update(`l ${name} ${await readlink(path)}\n`);
    }
    return digest.digest("hex");
  }
}

function fingerprintOf(info: Stats): string {
  return `${info.size}:${info.mtimeMs}:${info.ino}`;
}

/** Every path under `root`, sorted, so a directory comes before what it holds. */
export async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((e) => join(e.parentPath, e.name)).sort();
}
