import t from "tap";
import { createServer, type AddressInfo } from "node:net";
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import ssh2 from "ssh2";
import { generateEd25519KeyPair, publicKeyOf } from "../src/transport/keys.ts";
import { SshConnection } from "../src/transport/ssh-connection.ts";
import { tempHome } from "./helpers/fleet.ts";

t.test("every generated key pair loads in ssh2 and in OpenSSH", async (t) => {
  // ssh2's own keygen makes about 1 unusable key in 256 (mscdex/ssh2#1513): in 3,000
  // draws some ~12 would fail here without the redraw, so this cannot pass by luck.
  let unusable = 0;
  for (let i = 0; i < 3000; i++) {
    const pair = generateEd25519KeyPair("test");
    if (ssh2.utils.parseKey(pair.privateKey) instanceof Error || ssh2.utils.parseKey(pair.publicKey) instanceof Error) unusable++;
  }
  t.equal(unusable, 0, "3,000 pairs, none unusable");

  const dir = await tempHome(t);
  const pair = generateEd25519KeyPair("openssh-check");
  const path = join(dir, "id_ed25519");
  await writeFile(path, pair.privateKey, { mode: 0o600 });
  const derived = execFileSync("ssh-keygen", ["-y", "-f", path], { encoding: "utf8" }).trim();
  t.equal(derived.split(" ").slice(0, 2).join(" "), pair.publicKey.split(" ").slice(0, 2).join(" "), "ssh-keygen derives the same public key");
  t.equal(publicKeyOf(pair.privateKey, path), derived.split(" ").slice(0, 2).join(" "), "publicKeyOf agrees");
});

t.test("a private key ssh2 cannot parse fails the connection instead of the process", async (t) => {
  // A plain TCP listener is enough: ssh2 rejects the key as soon as the socket connects.
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  const connection = new SshConnection({
    label: "agent-001",
    host: "127.0.0.1",
    port,
    user: "root",
    hostKey: generateEd25519KeyPair("host").publicKey,
    privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n",
  });
  await t.rejects(connection.get(), /agent-001: SSH to root@127\.0\.0\.1:\d+ failed: Cannot parse privateKey/);
  connection.close();
});
