import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HashWorkers } from "../../runtime/content-hash.ts";
import { execOnConnection } from "../../transport/exec.ts";
import { quoteArg } from "../../transport/quote.ts";
import type { SshConnection } from "../../transport/ssh-connection.ts";

export interface StagedFile {
  /** Its path inside the staging directory. */
  relative: string;
  /** Its path on this machine. */
  local: string;
  /** Its mode on the host (0o600 for keys); default: the local file's, less group and other write. */
  mode?: number;
}

/** Marks a staging directory whose files all arrived; a directory without it is never used. */
const COMPLETE = ".complete";

/** One digest for the files' names, contents (copies' content hashes) and given modes: equal digests, equal directories. */
export async function stagingDigest(files: readonly StagedFile[]): Promise<string> {
  const workers = new HashWorkers();
  try {
    const hash = createHash("sha256");
    // A mode given for the host is part of what is staged: the same key at another mode is another directory.
    for (const file of files) hash.update(`${file.relative}\0${file.mode === undefined ? "" : `${file.mode.toString(8)}\0`}${await workers.hashFile(file.local)}\n`);
    return hash.digest("hex").slice(0, 32);
  } finally {
    await workers.close();
  }
}

/**
 * Puts the files in `<root>/<digest>/` on the host unless a complete copy is there already
 * (a second run, or the same node binary, sends nothing). They go to a directory of their own
 * first and are renamed into place, so a copy cut short is never taken for a complete one.
 */
export async function stageOnHost(ssh: SshConnection, label: string, root: string, files: readonly StagedFile[]): Promise<{ dir: string; sentBytes: number }> {
  const dir = posix.join(root, await stagingDigest(files));
  const present = await execOnConnection(ssh, label, `test -f ${quoteArg(posix.join(dir, COMPLETE))}`, { allowFailure: true });
  if (present.code === 0) return { dir, sentBytes: 0 };
  const partial = `${dir}.partial-${randomBytes(4).toString("hex")}`;
  const dirs = [...new Set(files.map((f) => posix.dirname(posix.join(partial, f.relative))))];
  await execOnConnection(ssh, label, `mkdir -p ${dirs.map(quoteArg).join(" ")}`);
  let sentBytes = 0;
  for (const file of files) {
    const { mode, size } = await stat(file.local);
    await sendToHost(ssh, label, posix.join(partial, file.relative), createReadStream(file.local), file.mode ?? mode & 0o755);
    sentBytes += size;
  }
  // Another run may have staged the same files meanwhile: theirs are as good as ours.
  await execOnConnection(ssh, label, `touch ${quoteArg(posix.join(partial, COMPLETE))} && { mv -T ${quoteArg(partial)} ${quoteArg(dir)} 2>/dev/null || rm -rf ${quoteArg(partial)}; }`);
  return { dir, sentBytes };
}

/**
 * Writes `source` to `path` on the host through a shell's stdin (`cat`), which every host has;
 * not all have sshd's sftp subsystem. Streamed: the node binary is about 100 MB.
 */
async function sendToHost(ssh: SshConnection, label: string, path: string, source: Readable, mode: number): Promise<void> {
  const remote = await ssh.exec(writeCommand(path, mode));
  let stderr = "";
  remote.channel.stderr.on("data", (chunk: Buffer) => (stderr += chunk));
  // The channel closes only once its (empty) output has been read too.
  remote.channel.resume();
  await pipeline(source, remote.channel);
  const exit = await remote.exited;
  if (exit.code !== 0) throw new Error(`${label}: writing ${path} failed (exit ${exit.code ?? exit.signal}): ${stderr.trim()}`);
}

/** Writes a small file on the host, readable by the SSH user only unless `mode` says otherwise. */
export async function writeOnHost(ssh: SshConnection, label: string, path: string, content: string, mode = 0o600): Promise<void> {
  await execOnConnection(ssh, label, writeCommand(path, mode), { input: content });
}

/** The shell line that writes its stdin to `path`, private while it is written, then of `mode`. */
function writeCommand(path: string, mode: number): string {
  return `umask 077 && cat > ${quoteArg(path)} && chmod ${mode.toString(8)} ${quoteArg(path)}`;
}
