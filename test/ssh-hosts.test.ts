// The SSH-host path end to end: a real sshd on a loopback port, started by this test with
// key login, stands for a remote machine whose Docker engine is this machine's.
import { spawn } from "node:child_process";
import { access, mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import t from "tap";
import { generateEd25519KeyPair, knownHostsLine } from "../src/keys.ts";
import { portIsFree } from "../src/localhost/ports.ts";
import { agentsPerHost } from "../src/ssh-hosts/fleet.ts";
import { parseSshHost } from "../src/ssh-hosts/host-spec.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";

const SSHD = "/usr/sbin/sshd";

t.test("host specs and spreading agents over hosts", async (t) => {
  t.same(parseSshHost("root@10.0.0.5:2222"), { user: "root", host: "10.0.0.5", port: 2222 });
  t.same(parseSshHost("h1"), { user: "root", host: "h1", port: 22 });
  t.throws(() => parseSshHost("root@:22"), /--ssh-host "root@:22" is not \[user@\]host\[:port\]/);
  t.same(agentsPerHost(5, 2), [3, 2]);
  t.same(agentsPerHost(1, 3), [1, 0, 0]);
});

async function freeLoopbackPort(): Promise<number> {
  for (let port = 22000 + Math.floor(Math.random() * 2000); ; port++) if (await portIsFree(port)) return port;
}

const docker = await requireDocker(t);
const haveSshd = await access(SSHD).then(() => true, () => false);
if (!haveSshd) {
  if (process.env.CI) t.fail(`${SSHD} is required in CI: apt-get install openssh-server`);
  else t.plan(0, `${SSHD} is missing: apt-get install openssh-server`);
}

if (docker && haveSshd) {
  const home = await tempHome(t);
  const dir = join(home, "host");
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
  let sshdLog = "";
  sshd.stderr.on("data", (chunk) => (sshdLog += chunk));
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

  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
  const host = `root@127.0.0.1:${port}`;
  const sshFlags = ["--ssh-key", join(dir, "operator_key")];

  t.test("up --ssh-host, run, list, destroy: nothing left", async (t) => {
    const namespace = uniqueNamespace("ssh");
    cleanupNamespace(t, docker, namespace);
    const up = await runCli(["up", "--ssh-host", host, ...sshFlags, "--ssh-known-hosts", join(dir, "known_hosts"), "--namespace", namespace, "--vms", "2", "--ttl", "10m", "--json"], env);
    t.equal(up.code, 0, up.stderr + sshdLog);
    const inventory = JSON.parse(up.stdout);
    t.equal(inventory.target, "ssh");
    t.same(inventory.agents.map((a: { name: string }) => a.name), ["agent-001", "agent-002"]);

    const run = await runCli(["run", "health", "--namespace", namespace], env);
    t.equal(run.code, 0, run.stderr + run.stdout);
    t.match(run.stdout, /all 2 agents healthy/);

    const list = await runCli(["list", "--namespace", namespace, "--json"], env);
    t.equal(JSON.parse(list.stdout).length, 2);

    const destroy = await runCli(["destroy", "--namespace", namespace], env);
    t.equal(destroy.code, 0, destroy.stderr);
    t.match(destroy.stdout, /removed 2 agent\(s\)/);
    await waitFor("the agents to be gone", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 10_000);
    t.pass("no container of the namespace is left");
  });

  t.test("a host missing from known_hosts is refused before anything is created", async (t) => {
    const namespace = uniqueNamespace("ssh");
    cleanupNamespace(t, docker, namespace);
    const up = await runCli(["up", "--ssh-host", host, ...sshFlags, "--ssh-known-hosts", join(dir, "empty_known_hosts"), "--namespace", namespace], env);
    t.equal(up.code, 2);
    t.match(up.stderr, /has no key in .*empty_known_hosts: check its fingerprint, then add it/);
    t.equal(await containerCount(docker, namespace), 0);
  });

  t.test("a host whose key differs from known_hosts is refused", async (t) => {
    const namespace = uniqueNamespace("ssh");
    cleanupNamespace(t, docker, namespace);
    const impostor = join(dir, "wrong_known_hosts");
    await writeFile(impostor, `${knownHostsLine("127.0.0.1", port, generateEd25519KeyPair("other").publicKey)}\n`);
    const up = await runCli(["up", "--ssh-host", host, ...sshFlags, "--ssh-known-hosts", impostor, "--namespace", namespace], env);
    t.equal(up.code, 1);
    t.match(up.stderr, /does not match the pinned key/);
    t.equal(await containerCount(docker, namespace), 0);
  });
}
