import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";

/** Writes `bytes` random bytes to `path`, 1 MiB at a time: content no cache or compressor can guess. */
export async function randomFile(path: string, bytes: number): Promise<void> {
  const file = await open(path, "w");
  try {
    for (let written = 0; written < bytes; written += 1 << 20) await file.write(randomBytes(Math.min(1 << 20, bytes - written)));
  } finally {
    await file.close();
  }
}
