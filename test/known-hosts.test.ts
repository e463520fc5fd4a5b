// SSH hosts are pinned from the operator's known_hosts file: the lookup must find a host's key
// however OpenSSH wrote it, and never take another host's (or a revoked) key for it.
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { generateEd25519KeyPair, knownHostsLine } from "../src/transport/keys.ts";
import { knownHostKey } from "../src/targets/ssh-hosts/host-spec.ts";
import { tempHome } from "./helpers/fleet.ts";

t.test("a host's pinned key is read from known_hosts as OpenSSH writes it", async (t) => {
  const dir = await tempHome(t);
  const [revoked, listed, plain, hashed] = ["revoked", "listed", "plain", "hashed"].map((name) => generateEd25519KeyPair(name).publicKey.split(" ").slice(0, 2).join(" "));
  // ssh-keygen -H hashes every name of the file it is given, as OpenSSH's HashKnownHosts does.
  await writeFile(join(dir, "hashed"), `${knownHostsLine("10.0.0.6", 2200, hashed!)}\n`);
  execFileSync("ssh-keygen", ["-q", "-H", "-f", join(dir, "hashed")], { stdio: "ignore" });
  t.match(await readFile(join(dir, "hashed"), "utf8"), /^\|1\|[^ ]+ ssh-ed25519 /, "ssh-keygen hashed the name");
  const file = join(dir, "known_hosts");
  await writeFile(file, [`# a comment`, `@revoked [127.0.0.1]:2222 ${revoked}`, `other,[127.0.0.1]:2222 ${listed}`, `10.0.0.5 ${plain}`, (await readFile(join(dir, "hashed"), "utf8")).trim()].join("\n") + "\n");
  t.equal(await knownHostKey(file, { user: "root", host: "127.0.0.1", port: 2222 }), listed, "one of a comma list of names, never a revoked key");
  t.equal(await knownHostKey(file, { user: "root", host: "10.0.0.5", port: 22 }), plain, "port 22 is written without brackets");
  t.equal(await knownHostKey(file, { user: "root", host: "10.0.0.6", port: 2200 }), hashed, "a hashed name");
  await t.rejects(knownHostKey(file, { user: "root", host: "10.0.0.5", port: 2222 }), /root@10\.0\.0\.5:2222 has no key in .*known_hosts: check its fingerprint/, "the same address on another port is another host");
  await t.rejects(knownHostKey(file, { user: "root", host: "10.0.0.50", port: 22 }), /root@10\.0\.0\.50:22 has no key/, "names match whole, not by prefix");
});
