import { open, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Agent } from "../runtime/agent.ts";
import { quoteArg } from "../transport/quote.ts";
import { remoteRunDir, remoteStopFile } from "./record.ts";

/** Files that only ever grow, sent as their new bytes; others are sent whole when they change. */
const APPEND_ONLY = /\.(log|jsonl)$/;
/** Prometheus' live TSDB changes under our feet and is large; its snapshot is mirrored at the end. */
const SKIPPED = /^prometheus\//;
/** Per file and sync, so one chatty log cannot hold back the status. */
const CHUNK_BYTES = 4 * 1024 * 1024;

interface Sent {
  size: number;
  mtimeMs: number;
}

/**
 * Keeps a copy of the run directory on an agent of the fleet, incrementally: appended bytes
 * of logs and the history, whole small files (status, result) when they change. Each sync
 * also answers whether someone asked the run to stop (`fieldtest stop` leaves a file there).
 */
export class RunMirror {
  readonly #sent = new Map<string, Sent>();
  readonly #remote: string;
  readonly #stopFile: string;

  constructor(
    private readonly agent: Agent,
    private readonly localDir: string,
    runId: string,
  ) {
    this.#remote = remoteRunDir(runId);
    this.#stopFile = remoteStopFile(runId);
  }

  get agentName(): string {
    return this.agent.name;
  }

  /** Sends what changed; returns true when a stop was requested. */
  async sync(): Promise<boolean> {
    const files = await listFiles(this.localDir);
    for (const file of files) {
      const rel = relative(this.localDir, file.path);
      if (SKIPPED.test(rel)) continue;
      const sent = this.#sent.get(rel);
      if (sent && sent.size === file.size && sent.mtimeMs === file.mtimeMs) continue;
      await this.#send(rel, file, sent);
    }
    const { stdout } = await this.agent.exec(`test -e ${quoteArg(this.#stopFile)} && echo stop; true`);
    return stdout.trim() === "stop";
  }

  async #send(rel: string, file: { path: string; size: number; mtimeMs: number }, sent: Sent | undefined): Promise<void> {
    const target = `${this.#remote}/${rel}`;
    const dir = quoteArg(target.slice(0, target.lastIndexOf("/")));
    if (!APPEND_ONLY.test(rel)) {
      await this.agent.exec(`mkdir -p ${dir} && cat > ${quoteArg(`${target}.part`)} && mv ${quoteArg(`${target}.part`)} ${quoteArg(target)}`, {
        input: await readRange(file.path, 0, file.size),
      });
      this.#sent.set(rel, { size: file.size, mtimeMs: file.mtimeMs });
      return;
    }
    // A log that shrank was rotated: it starts again from its first byte.
    const from = sent && file.size >= sent.size ? sent.size : 0;
    const length = Math.min(file.size - from, CHUNK_BYTES);
    const bytes = await readRange(file.path, from, length);
    await this.agent.exec(from === 0 ? `mkdir -p ${dir} && cat > ${quoteArg(target)}` : `cat >> ${quoteArg(target)}`, { input: bytes });
    // Remembered at what was sent, so the next sync continues a partly sent file.
    this.#sent.set(rel, { size: from + bytes.length, mtimeMs: from + bytes.length === file.size ? file.mtimeMs : -1 });
  }
}

async function listFiles(dir: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const files = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (info) files.push({ path, size: info.size, mtimeMs: info.mtimeMs });
  }
  return files;
}

async function readRange(path: string, from: number, length: number): Promise<Buffer> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
