import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { CHUNK_BYTES, ChunkedDigest, HashWorkers } from "../src/runtime/content-hash.ts";
import { HashCache } from "../src/runtime/hash-cache.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";

/** The definition written out once more, plainly: SHA-256 over the scheme line and each 16 MiB chunk's SHA-256. */
function reference(bytes: Buffer): string {
  const top = createHash("sha256").update(`fieldtest-chunked-sha256 ${CHUNK_BYTES}\n`);
  for (let start = 0; start === 0 || start < bytes.length; start += CHUNK_BYTES) {
    top.update(createHash("sha256").update(bytes.subarray(start, start + CHUNK_BYTES)).digest());
  }
  return top.digest("hex");
}

t.test("the worker pool, the streaming digest and the definition agree at every chunk edge", async (t) => {
  const dir = await tempHome(t);
  const workers = new HashWorkers(2);
  t.teardown(() => workers.close());
  const all = randomBytes(3 * CHUNK_BYTES + 5);
  for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]) {
    const bytes = all.subarray(0, size);
    const path = join(dir, `f${size}`);
    await writeFile(path, bytes);
    const streamed = new ChunkedDigest();
    // Pieces of odd sizes, so chunk edges fall inside them.
    for (let offset = 0; offset < size; offset += 999_983) streamed.update(bytes.subarray(offset, offset + 999_983));
    const expected = reference(bytes);
    t.equal(await workers.hashFile(path), expected, `${size} bytes: the pool`);
    t.equal(streamed.digest(), expected, `${size} bytes: streamed`);
  }
  t.not(reference(all.subarray(0, 1)), reference(Buffer.from([all[0]! ^ 1])), "one changed byte changes it");
});

t.test("hashing a missing file fails with its path, and the pool still works", async (t) => {
  const dir = await tempHome(t);
  const workers = new HashWorkers(2);
  t.teardown(() => workers.close());
  const path = join(dir, "big");
  await writeFile(path, randomBytes(2 * CHUNK_BYTES + 1));
  const hashing = workers.hashFile(path);
  await t.rejects(workers.hashFile(join(dir, "missing")), /ENOENT.*missing/);
  t.equal(await hashing, reference(await readFile(path)));
  await rm(path);
  await writeFile(path, randomBytes(CHUNK_BYTES + 10));
  const cache = new HashCache();
  t.teardown(() => cache.close());
  const [a, b] = await Promise.all([cache.fileHash(path), cache.fileHash(path)]);
  t.equal(a, b, "two agents asking at once get one answer");
  t.equal(a, reference(await readFile(path)));
});

t.test("an idle pool does not keep the process alive", async (t) => {
  const dir = await tempHome(t);
  const path = join(dir, "big");
  const bytes = randomBytes(2 * CHUNK_BYTES + 3);
  await writeFile(path, bytes);
  const { stdout } = await promisify(execFile)(process.execPath, ["--import=tsx", join(ROOT, "test/fixtures/hash-and-exit.ts"), path], { timeout: 30_000 });
  t.equal(stdout.trim(), reference(bytes), "it printed the hash and exited");
});
