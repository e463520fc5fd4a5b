import { createHash } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/**
 * Content hashes of local files, remembered by (path, size, mtime, inode) so a re-copy of an
 * unchanged 200 MB file costs a stat, not a re-read. One cache serves all agents of a run.
 */
export class HashCache {
  private readonly hashes = new Map<string, { fingerprint: string; hash: string }>();

  async fileHash(path: string): Promise<string> {
    const info = await stat(path);
    const cached = this.hashes.get(path);
    if (cached?.fingerprint === fingerprintOf(info)) return cached.hash;
    const hash = await sha256File(path);
    this.remember(path, info, hash);
    return hash;
  }

  /** Records a hash computed elsewhere (during a copy), for the file as `info` describes it before it was read. */
  remember(path: string, info: Stats, hash: string): void {
    this.hashes.set(path, { fingerprint: fingerprintOf(info), hash });
  }

  /** A hash of a directory tree: relative paths, modes and file contents, in sorted order. */
  async treeHash(root: string): Promise<string> {
    const digest = createHash("sha256");
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

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const digest = createHash("sha256");
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on("data", (chunk) => digest.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(digest.digest("hex")));
  });
}

async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.map((e) => join(e.parentPath, e.name)).sort();
}
