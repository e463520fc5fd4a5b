// A real sshd on a loopback port, started by a test with key login: it stands for a remote
// machine whose Docker engine is this machine's.
import { spawn } from "node:child_process";
import { access, mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import type { Test } from "tap";
import { generateEd25519KeyPair, knownHostsLine, type SshKeyPair } from "../../src/transport/keys.ts";
import { portIsFree } from "../../src/targets/docker-engine/ports.ts";
import { inCi } from "./ci.ts";
import { waitFor } from "./fleet.ts";

const SSHD = "/usr/sbin/sshd";

/** True when sshd is installed; otherwise fails under CI and plans no test locally, saying why. */
export async function requireSshd(t: Test): Promise<boolean> {
  const haveSshd = await access(SSHD).then(() => true, () => false);
  if (!haveSshd) {
    if (inCi()) t.fail(`${SSHD} is required in CI: apt-get install openssh-server`);
    else t.plan(0, `${SSHD} is missing: apt-get install openssh-server`);
  }
  return haveSshd;
}

// Below 30000, where agents' port slices start: an ephemeral port from the kernel could be one an agent of the same test needs.
async function freeLoopbackPort(): Promise<number> {
  for (let port = 22000 + Math.floor(Math.random() * 2000); ; port++) if (await portIsFree(port)) return port;
}

export interface TestSshd {
  port: number;
  hostKey: SshKeyPair;
  operator: SshKeyPair;
  /** Files in `dir`: operator_key, known_hosts (the host's key), empty_known_hosts. */
  dir: string;
  log: () => string;
}

/** Starts sshd with its files in `dir`; it is stopped when the test ends. */
export async function startSshd(t: Test, dir: string): Promise<TestSshd> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const hostKey = generateEd25519KeyPair("test-host");
  const operator = generateEd25519KeyPair("operator");
  const port = await freeLoopbackPort();
  await writeFile(join(dir, "host_key"), hostKey.privateKey, { mode: 0o600 });
  await writeFile(join(dir, "authorized_keys"), `${operator.publicKey}\n`, { mode: 0o600 });
  await writeFile(join(dir, "operator_key"), operator.privateKey, { mode: 0o600 });
  await writeFile(join(dir, "known_hosts"), `${knownHostsLine("127.0.0.1", port, hostKey.publicKey)}\n`);
  await writeFile(join(dir, "empty_known_hosts"), "");
  await writeFile(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      // The test's files live under the temp dir, which StrictModes would reject.
      "StrictModes no",
      "MaxSessions 100",
    ].join("\n") + "\n",
  );
  await mkdir("/run/sshd", { recursive: true });
  const sshd = spawn(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  sshd.stderr.on("data", (chunk) => (log += chunk));
  t.teardown(() => {
    sshd.kill("SIGTERM");
  });
  await waitFor(
    `sshd on 127.0.0.1:${port}`,
    () =>
      new Promise<true | undefined>((resolve) => {
        const socket = connect(port, "127.0.0.1", () => {
          socket.destroy();
          resolve(true);
        }).on("error", () => resolve(undefined));
      }),
    10_000,
    50,
  );
  return { port, hostKey, operator, dir, log: () => log };
}
