import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * A file's content hash is SHA-256 over the SHA-256 digests of its 16 MiB chunks, so a large
 * file is hashed on every core at once: one SHA-256 stream runs at about 1 GB/s, slower than
 * a localhost copy. The copy manifests on agents record this hash.
 */
export const CHUNK_BYTES = 16 << 20;
const SCHEME = `fieldtest-chunked-sha256 ${CHUNK_BYTES}\n`;

function combine(chunkDigests: readonly Buffer[]): string {
  const top = createHash("sha256").update(SCHEME);
  for (const digest of chunkDigests) top.update(digest);
  return top.digest("hex");
}

/**
 * The content hash from the hex SHA-256 digests of the chunks, in order, as a broadcast's relay
 * on an agent prints them (one `openssl dgst` or `sha256sum` per chunk). No chunk at all is the empty file.
 */
export function hashOfChunkDigests(hexDigests: readonly string[]): string {
  return hashOfChunks(hexDigests.map((hex) => Buffer.from(hex, "hex")));
}

/** The content hash from the chunks' binary digests, in order (see ChunkedDigest.chunks). */
export function hashOfChunks(digests: readonly Buffer[]): string {
  return combine(digests.length > 0 ? digests : [createHash("sha256").digest()]);
}

/** The content hash of bytes fed in order, for data read once on its way elsewhere. */
export class ChunkedDigest {
  private readonly digests: Buffer[] = [];
  private current: Hash = createHash("sha256");
  private filled = 0;

  update(data: Buffer): void {
    for (let offset = 0; offset < data.length; ) {
      const take = Math.min(CHUNK_BYTES - this.filled, data.length - offset);
      this.current.update(data.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === CHUNK_BYTES) this.closeChunk();
    }
  }

  digest(): string {
    if (this.filled > 0 || this.digests.length === 0) this.closeChunk();
    return combine(this.digests);
  }

  /** The digests of the chunks fed so far, the last one closed even if short: for data hashed in chunk-aligned parts. */
  chunks(): Buffer[] {
    if (this.filled > 0) this.closeChunk();
    return this.digests;
  }

  private closeChunk(): void {
    this.digests.push(this.current.digest());
    this.current = createHash("sha256");
    this.filled = 0;
  }
}

// Plain JavaScript evaluated in the worker, so it needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { closeSync, openSync, readSync } = require("node:fs");
const { createHash } = require("node:crypto");
const buffer = Buffer.allocUnsafe(4 << 20);
parentPort.on("message", ({ id, path, start, end }) => {
  let fd;
  try {
    fd = openSync(path, "r");
    const digest = createHash("sha256");
    for (let position = start; position < end; ) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      if (read === 0) throw new Error(path + " shrank while it was being hashed");
      digest.update(buffer.subarray(0, read));
      position += read;
    }
    parentPort.postMessage({ id, digest: digest.digest() });
  } catch (error) {
    parentPort.postMessage({ id, error: error.message });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
});
`;

interface Job {
  resolve: (digest: Buffer) => void;
  reject: (error: Error) => void;
}

/**
 * Worker threads that hash a large file's chunks in parallel. Started on first use; an idle
 * pool does not keep the process alive.
 */
export class HashWorkers {
  private workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private turn = 0;

  constructor(private readonly size = Math.min(availableParallelism(), 4)) {}

  async hashFile(path: string): Promise<string> {
    const { size } = await stat(path);
    if (size <= CHUNK_BYTES || this.size < 2) return hashStream(path);
    const ranges: Array<[number, number]> = [];
    for (let start = 0; start < size; start += CHUNK_BYTES) ranges.push([start, Math.min(size, start + CHUNK_BYTES)]);
    return combine(await Promise.all(ranges.map(([start, end]) => this.hashRange(path, start, end))));
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  private hashRange(path: string, start: number, end: number): Promise<Buffer> {
    const worker = this.pool()[this.turn++ % this.size]!;
    const id = this.nextId++;
    if (this.jobs.size === 0) for (const w of this.workers) w.ref();
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      worker.postMessage({ id, path, start, end });
    });
  }

  private pool(): Worker[] {
    if (this.workers.length === 0) {
      this.workers = Array.from({ length: this.size }, () => {
        const worker = new Worker(WORKER_SOURCE, { eval: true });
        worker.on("message", (message: { id: number; digest?: Uint8Array; error?: string }) => this.settle(message));
        worker.on("error", (error) => this.failAll(error));
        return worker;
      });
    }
    return this.workers;
  }

  private settle({ id, digest, error }: { id: number; digest?: Uint8Array; error?: string }): void {
    const job = this.jobs.get(id);
    this.jobs.delete(id);
    if (this.jobs.size === 0) for (const worker of this.workers) worker.unref();
    if (!job) return;
    if (digest) job.resolve(Buffer.from(digest));
    else job.reject(new Error(error ?? "hashing failed"));
  }

  private failAll(error: Error): void {
    for (const job of this.jobs.values()) job.reject(error);
    this.jobs.clear();
    void this.close();
  }
}

function hashStream(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const digest = new ChunkedDigest();
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on("data", (chunk) => digest.update(chunk as Buffer))
      .on("error", reject)
      .on("end", () => resolve(digest.digest()));
  });
}
