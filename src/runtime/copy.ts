import { createHash, randomUUID } from "node:crypto";
import { createReadStream, type Stats } from "node:fs";
import { chmod, copyFile, link, lstat, mkdir, readlink, realpath, rm, stat, symlink, utimes } from "node:fs/promises";
import { dirname, join, posix, relative } from "node:path";
import { buffer } from "node:stream/consumers";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-fs";
import type { AgentSpec } from "../core/inventory.ts";
import { CHUNK_BYTES, ChunkedDigest, hashOfChunks } from "./content-hash.ts";
import { listTree, type HashCache } from "./hash-cache.ts";
import { quoteArg } from "../transport/quote.ts";
import type { RemoteProcess, SshConnection } from "../transport/ssh-connection.ts";
import { execOnConnection, type ExecOptions } from "../transport/exec.ts";

export interface CopyResult {
  remote: string;
  /** False when the agent already had identical content and nothing was sent. */
  transferred: boolean;
  bytes: number;
  /**
   * How the bytes went when any were sent: the runner's inbox (localhost agents), SSH from the
   * runner, or relayed by another agent of a broadcast (`cloud.copy`).
   */
  via?: "inbox" | "ssh" | "relay";
}

/**
 * After each copy the agent records what it received in a manifest: the content's identity
 * (content hash and the mode it was given) and the file's (size, mtime, inode, mode) on the
 * agent. A later copy of the same content with the same mode to the same path is skipped when
 * the manifest matches and the file on the agent was not touched since. One round trip.
 */
export const MANIFEST_DIR = "$HOME/.fieldtest/copies";
// Matches find's output below, so a directory tree's identity is one line to compare.
const TREE_FINGERPRINT = `find "$f" -printf '%P %y %s %T@ %m\\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1`;
/** What the agent's `stat` says of the file at "$f", recorded after a copy and compared before the next. */
export const FILE_FINGERPRINT = `stat -c '%s %Y %i %a' -- "$f"`;
const FINGERPRINT_FIELDS = 4;

export function manifestPath(remote: string): string {
  return `${MANIFEST_DIR}/${createHash("sha256").update(remote).digest("hex").slice(0, 32)}`;
}

/** A file's identity in a manifest: a `chmod +x` alone is a change to send. */
export function fileIdentity(hash: string, mode: number): string {
  return `${hash}:${(mode & 0o7777).toString(8)}`;
}

/**
 * Where a copy is written before it is moved over `remote`: beside it (so the move is atomic)
 * under a short name of its own, so a destination name near the 255-byte limit still fits.
 */
export function partialPath(remote: string): string {
  const id = createHash("sha256").update(remote).digest("hex").slice(0, 16);
  return posix.join(posix.dirname(remote), `.fieldtest-${id}.partial`);
}

/** The agent-side check: prints the manifest line and the file's fingerprint now, when both exist. */
export function manifestCheckCommand(remote: string): string {
  return (
    `f=${quoteArg(remote)}; m="${manifestPath(remote)}"; mkdir -p "$(dirname -- "$f")" "${MANIFEST_DIR}" && ` +
    `if [ -f "$m" ] && [ -f "$f" ]; then echo "$(cat "$m") $(${FILE_FINGERPRINT})"; fi`
  );
}

/** The identity recorded on the agent by `manifestCheckCommand`'s output, if the file is untouched since. */
export function untouchedIdentity(checkOutput: string): string | undefined {
  const [identity, ...stamps] = checkOutput.trim().split(" ");
  const recorded = stamps.slice(0, FINGERPRINT_FIELDS).join(" ");
  const current = stamps.slice(FINGERPRINT_FIELDS).join(" ");
  return stamps.length === 2 * FINGERPRINT_FIELDS && recorded === current ? identity : undefined;
}

/** Gives the partial file its mode, moves it over the destination and records the manifest. */
export function commitCommand(remote: string, partial: string, hash: string, mode: number): string {
  return (
    `f=${quoteArg(remote)}; chmod ${(mode & 0o7777).toString(8)} -- ${quoteArg(partial)} && mv -f -- ${quoteArg(partial)} "$f" && ` +
    `echo "${fileIdentity(hash, mode)} $(${FILE_FINGERPRINT})" > "${manifestPath(remote)}"`
  );
}

/** Channels a large file is sent over at once (see sendOverSsh). */
const SSH_CHANNELS = 4;

/** The agent's exit code when the staged file is not in its view of the inbox. */
const INBOX_UNSEEN = 97;

export class Copier {
  constructor(
    private readonly connection: SshConnection,
    private readonly agentName: string,
    private readonly hashes: HashCache,
    /** Cleared after the first sign the agent cannot use it, so later copies go straight to SSH. */
    private inbox?: AgentSpec["inbox"],
    /** Says once why copies stopped using the inbox (the agent's log, as a line from `copy`). */
    private readonly notice: (message: string) => void = () => {},
  ) {}

  /** Whether copies to this agent may still go through the runner's inbox. */
  get usesInbox(): boolean {
    return this.inbox !== undefined;
  }

  private leaveInbox(why: string): void {
    this.inbox = undefined;
    this.notice(`copy: the inbox cannot be used (${why}); this and later copies go over SSH`);
  }

  private run(command: string, options: ExecOptions = {}) {
    return execOnConnection(this.connection, this.agentName, command, options);
  }

  async copy(local: string, remote: string): Promise<CopyResult> {
    const info = await stat(local).catch(() => {
      throw new Error(`${this.agentName}: copy: local path ${local} does not exist`);
    });
    return info.isDirectory() ? this.copyTree(local, remote) : this.copyFile(local, remote, info);
  }

  private async copyFile(local: string, remote: string, info: Stats): Promise<CopyResult> {
    const seen = untouchedIdentity((await this.run(manifestCheckCommand(remote))).stdout);
    // Only a copy the agent kept untouched can be skipped, so only then is the hash needed up front.
    if (seen !== undefined && seen === fileIdentity(await this.hashes.fileHash(local), info.mode)) return { remote, transferred: false, bytes: 0 };

    const partial = partialPath(remote);
    let inboxHash: string | undefined;
    if (this.inbox) {
      // Hashed while the agent copies: the two take about as long on a large file.
      const hashing = this.hashes.fileHash(local);
      hashing.catch(() => {}); // awaited below, unless the inbox turns out unusable
      // A symlink's target is staged: the agent could not follow the link out of its mount.
      const stage = async (staged: string) => linkOrCopy(await realpath(local), staged);
      const received = await this.throughInbox(local, remote, stage, (s) => `cp -- ${s} ${quoteArg(partial)}`);
      if (received) inboxHash = await hashing;
    }
    const hash = inboxHash ?? (await this.sendOverSsh(local, info, remote, partial));
    // `dd` keeps what lies past the new end of a partial file an earlier, failed copy left larger.
    await this.run(`truncate -s ${info.size} -- ${quoteArg(partial)} && ${commitCommand(remote, partial, hash, info.mode)}`);
    return { remote, transferred: true, bytes: info.size, via: inboxHash ? "inbox" : "ssh" };
  }

  /**
   * For an agent that mounts the runner's inbox (localhost): `stage` hard-links what is sent
   * into it, and the agent runs `receive` (given the quoted path it sees) to copy it onto its own
   * disk, so no byte goes through SSH's encryption. False when the agent cannot see the inbox
   * (an inventory used from another machine, a remapped user): SSH carries it from then on.
   */
  private async throughInbox(local: string, remote: string, stage: (staged: string) => Promise<void>, receive: (agentPath: string) => string): Promise<boolean> {
    const inbox = this.inbox;
    if (!inbox) return false;
    const name = `${randomUUID()}.copy`;
    const staged = join(inbox.hostPath, name);
    try {
      try {
        await stage(staged);
      } catch (error) {
        this.leaveInbox(`staging ${local} in ${inbox.hostPath} failed: ${(error as Error).message}`);
        return false;
      }
      const seen = `${inbox.agentPath}/${name}`;
      const received = await this.run(`[ -e ${quoteArg(seen)} ] || exit ${INBOX_UNSEEN}; ${receive(quoteArg(seen))}`, { allowFailure: true });
      if (received.code === INBOX_UNSEEN) {
        this.leaveInbox(`the agent does not see ${inbox.hostPath} at ${inbox.agentPath}`);
        return false;
      }
      if (received.code !== 0) throw new Error(`${this.agentName}: copy of ${local} to ${remote} failed (exit ${received.code}): ${received.stderr.trim()}`);
      return true;
    } finally {
      await removeStaged(staged);
    }
  }

  /**
   * Streamed on channels of its own and hashed on the way: the file is read once, and the
   * transfer needs no SFTP request and reply per 32 KiB. A large file goes in SSH_CHANNELS parts
   * at once, each to a `dd` writing its range: one channel is held to sshd's 2 MiB window,
   * several keep more bytes in flight (see the README's copy notes for the figures). The parts
   * are cut at chunk boundaries, so their chunk digests make the content hash.
   */
  private async sendOverSsh(local: string, info: Stats, remote: string, partial: string): Promise<string> {
    const parts = Math.max(1, Math.min(SSH_CHANNELS, Math.floor(info.size / CHUNK_BYTES)));
    const chunksPerPart = Math.ceil(Math.ceil(info.size / CHUNK_BYTES) / parts);
    const ranges = Array.from({ length: parts }, (_, i) => [i * chunksPerPart * CHUNK_BYTES, Math.min(info.size, (i + 1) * chunksPerPart * CHUNK_BYTES)] as const).filter(
      ([start, end], i) => i === 0 || start < end,
    );
    const what = `${this.agentName}: copy of ${local} to ${remote}`;
    const sendRange = async ([start, end]: readonly [number, number]): Promise<Buffer[]> => {
      const command = ranges.length === 1 ? `cat > ${quoteArg(partial)}` : `dd of=${quoteArg(partial)} bs=1M seek=${start} oflag=seek_bytes conv=notrunc status=none`;
      const receiver = await this.connection.exec(command);
      const done = waitForSuccess(receiver, what);
      receiver.channel.resume();
      const digest = new ChunkedDigest();
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, next) {
          digest.update(chunk);
          next(null, chunk);
        },
      });
      const reading = end > start ? createReadStream(local, { highWaterMark: 1 << 20, start, end: end - 1 }) : Readable.from([]);
      await Promise.all([pipeline(reading, hashing, receiver.channel), done]).catch(async (error) => {
        await done;
        throw new Error(`${what} failed: ${(error as Error).message}`);
      });
      return digest.chunks();
    };
    const hash = hashOfChunks((await Promise.all(ranges.map(sendRange))).flat());
    this.hashes.remember(local, info, hash);
    return hash;
  }

  private async copyTree(local: string, remote: string): Promise<CopyResult> {
    const hash = await this.hashes.treeHash(local);
    const m = manifestPath(remote);
    const check = await this.run(
      `f=${quoteArg(remote)}; m="${m}"; mkdir -p "${MANIFEST_DIR}" && ` +
        `if [ -f "$m" ] && [ -d "$f" ]; then echo "$(cat "$m") $(${TREE_FINGERPRINT})"; fi`,
    );
    const [seenHash, recorded, current] = check.stdout.trim().split(" ");
    if (seenHash === hash && recorded !== undefined && recorded === current) return { remote, transferred: false, bytes: 0 };

    // The tree is unpacked beside its destination and swapped in, so a failed copy leaves the old one.
    const partial = partialPath(remote);
    const swapIn = `rm -rf -- "$f" && mv -- "$p" "$f" && echo "${hash} $(${TREE_FINGERPRINT})" > "${m}"`;
    const paths = `f=${quoteArg(remote)}; p=${quoteArg(partial)}; rm -rf -- "$p" && mkdir -p -- "$(dirname -- "$p")"`;
    let staged = 0;
    const stage = async (at: string) => {
      staged = await linkTree(local, at);
    };
    if (await this.throughInbox(local, remote, stage, (s) => `${paths} && cp -a -- ${s} "$p" && ${swapIn}`)) {
      return { remote, transferred: true, bytes: staged, via: "inbox" };
    }
    const remoteTar = await this.connection.exec(`${paths} && mkdir -- "$p" && tar -x -C "$p" && ${swapIn}`);
    let bytes = 0;
    const done = waitForSuccess(remoteTar, `${this.agentName}: copy of directory ${local} to ${remote}`);
    // ssh2 reports a channel closed only once its stdout was read to the end.
    remoteTar.channel.resume();
    const pack = tar.pack(local);
    pack.on("data", (chunk) => {
      bytes += (chunk as Buffer).length;
    });
    await pipeline(pack, remoteTar.channel);
    await done;
    return { remote, transferred: true, bytes, via: "ssh" };
  }

  async download(remote: string, local: string): Promise<void> {
    const kind = (await this.run(`f=${quoteArg(remote)}; if [ -d "$f" ]; then echo dir; elif [ -e "$f" ]; then echo file; else echo missing; fi`)).stdout.trim();
    if (kind === "missing") throw new Error(`${this.agentName}: download: ${remote} does not exist on the agent`);
    if (kind === "file") {
      await mkdir(dirname(local), { recursive: true });
      const sftp = await this.connection.sftp();
      await new Promise<void>((resolve, reject) =>
        sftp.fastGet(remote, local, { concurrency: 64, chunkSize: 32768 }, (error) =>
          error ? reject(new Error(`${this.agentName}: download of ${remote} failed: ${error.message}`)) : resolve(),
        ),
      );
      return;
    }
    await mkdir(local, { recursive: true });
    const remoteTar = await this.connection.exec(`tar -c -C ${quoteArg(remote)} .`);
    const done = waitForSuccess(remoteTar, `${this.agentName}: download of directory ${remote}`);
    remoteTar.channel.end();
    await pipeline(remoteTar.channel, tar.extract(local));
    await done;
  }
}

async function waitForSuccess({ channel, exited }: RemoteProcess, what: string): Promise<void> {
  const stderr = buffer(channel.stderr);
  const { code } = await exited;
  if (code !== 0) throw new Error(`${what} failed (exit ${code}): ${(await stderr).toString().trim()}`);
}

/** A hard link to `source` at `at`, or a copy where links are refused (another filesystem, protected_hardlinks). */
async function linkOrCopy(source: string, at: string): Promise<void> {
  await link(source, at).catch(() => copyFile(source, at));
}

/**
 * The tree rebuilt at `at` from hard links, with its directories' modes and times, so `cp -a`
 * on the agent makes what tar would have. Returns the bytes of its files.
 */
async function linkTree(root: string, at: string): Promise<number> {
  let bytes = 0;
  const directories: Array<[string, string]> = [[root, at]];
  await mkdir(at);
  for (const path of await listTree(root)) {
    const target = join(at, relative(root, path));
    const info = await lstat(path);
    if (info.isDirectory()) {
      await mkdir(target);
      directories.push([path, target]);
    } else if (info.isSymbolicLink()) {
      await symlink(await readlink(path), target);
    } else if (info.isFile()) {
      await linkOrCopy(path, target);
      bytes += info.size;
    }
  }
  // Last, and deepest first: a read-only directory must be filled before it takes its mode.
  for (const [source, target] of directories.reverse()) {
    const info = await stat(source);
    await chmod(target, info.mode & 0o7777);
    await utimes(target, info.atime, info.mtime);
  }
  return bytes;
}

/** Removes a staged file or tree, including directories staged read-only like their sources. */
async function removeStaged(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EACCES") throw error;
    for (const entry of [path, ...(await listTree(path))]) {
      if ((await lstat(entry)).isDirectory()) await chmod(entry, 0o700);
    }
    await rm(path, { recursive: true, force: true });
  }
}
