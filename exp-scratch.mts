import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import { pipeline } from "node:stream/promises";
import { Transform } from "node:stream";
import { spawn } from "node:child_process";
import ssh2 from "ssh2";
import { ChunkedDigest } from "/work/wt/broadcast/src/runtime/content-hash.ts";
import { Cloud } from "/work/wt/broadcast/src/runtime/cloud.ts";

const [invPath, keyPath, local, knownHosts] = process.argv.slice(2) as [string, string, string, string];
const inv = JSON.parse(await readFile(invPath, "utf8"));
const key = await readFile(keyPath, "utf8");
const a = inv.agents[0];
const size = (await stat(local)).size;
const mb = size / 1e6;

function client(cipher: string[]): Promise<ssh2.Client> {
  return new Promise((res, rej) => {
    const c = new ssh2.Client();
    c.once("ready", () => res(c)).once("error", rej);
    c.connect({ host: a.host, port: a.sshPort, username: a.user, privateKey: key, algorithms: { cipher } as never });
  });
}
function exec(c: ssh2.Client, cmd: string): Promise<ssh2.ClientChannel> {
  return new Promise((res, rej) => c.exec(cmd, (e, ch) => (e ? rej(e) : res(ch))));
}
async function send(c: ssh2.Client, hash: boolean, parts = 1) {
  const t0 = performance.now();
  const per = Math.ceil(size / parts / (16 << 20)) * (16 << 20);
  await Promise.all(Array.from({ length: parts }, async (_, i) => {
    const start = i * per; const end = Math.min(size, start + per) - 1;
    if (start > end) return;
    const ch = await exec(c, parts === 1 ? "cat > exp.bin" : `dd of=exp.bin bs=1M seek=${start} oflag=seek_bytes conv=notrunc status=none`);
    ch.resume();
    const closed = new Promise((r) => ch.once("close", r));
    const d = new ChunkedDigest();
    const steps: NodeJS.ReadableStream[] = [createReadStream(local, { highWaterMark: 1 << 20, start, end })];
    if (hash) steps.push(new Transform({ transform(ch2: Buffer, _e, n) { d.update(ch2); n(null, ch2); } }) as never);
    await pipeline([...steps, ch] as never);
    await closed;
  }));
  return mb / ((performance.now() - t0) / 1000);
}
function scp(): Promise<number> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const p = spawn("scp", ["-F", "/dev/null", "-i", keyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "ControlMaster=no", "-o", `ControlPath=${process.env.CP}`, "-P", String(a.sshPort), local, `${a.user}@${a.host}:scp.bin`], { stdio: "inherit" });
    p.once("close", (code) => (code === 0 ? res(mb / ((performance.now() - t0) / 1000)) : rej(new Error(`scp ${code}`))));
  });
}
const gcm = await client(["aes128-gcm@openssh.com"]);
const gcm256 = await client(["aes256-gcm@openssh.com"]);
const chacha = await client(["chacha20-poly1305@openssh.com"]);
const ctr = await client(["aes128-ctr"]);
const cloud = await Cloud.connect(inv, { privateKey: key, logSink: () => {} });
const results: Record<string, number[]> = {};
const add = (k: string, v: number) => (results[k] ??= []).push(v);
for (let r = 0; r < 5; r++) {
  add("scp", await scp());
  add("gcm128 1ch hash", await send(gcm, true, 1));
  add("gcm128 2ch hash", await send(gcm, true, 2));
  add("gcm128 4ch hash", await send(gcm, true, 4));
  add("gcm128 8ch hash", await send(gcm, true, 8));
}
for (const [k, v] of Object.entries(results)) console.log(k.padEnd(20), v.map((x) => x.toFixed(0)).join(" "), "median", [...v].sort((x, y) => x - y)[2]!.toFixed(0));
process.exit(0);
