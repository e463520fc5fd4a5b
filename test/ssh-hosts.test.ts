// The SSH-host path end to end: a real sshd on a loopback port, started by this test with
// key login, stands for a remote machine whose Docker engine is this machine's.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { generateEd25519KeyPair, knownHostsLine } from "../src/keys.ts";
import { agentsPerHost } from "../src/ssh-hosts/fleet.ts";
import { parseSshHost } from "../src/ssh-hosts/host-spec.ts";
import { cleanupNamespace, containerCount, requireDocker, runCli, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";
import { requireSshd, startSshd } from "./helpers/sshd.ts";

t.test("host specs and spreading agents over hosts", async (t) => {
  t.same(parseSshHost("root@10.0.0.5:2222"), { user: "root", host: "10.0.0.5", port: 2222 });
  t.same(parseSshHost("h1"), { user: "root", host: "h1", port: 22 });
  t.throws(() => parseSshHost("root@:22"), /--ssh-host "root@:22" is not \[user@\]host\[:port\]/);
  t.same(agentsPerHost(5, 2), [3, 2]);
  t.same(agentsPerHost(1, 3), [1, 0, 0]);
});

const docker = await requireDocker(t);
const haveSshd = await requireSshd(t);

if (docker && haveSshd) {
  const home = await tempHome(t);
  const { port, dir, log: sshdLog } = await startSshd(t, join(home, "host"));
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
  const host = `root@127.0.0.1:${port}`;
  const sshFlags = ["--ssh-key", join(dir, "operator_key")];

  t.test("up --ssh-host, run, list, destroy: nothing left", async (t) => {
    const namespace = uniqueNamespace("ssh");
    cleanupNamespace(t, docker, namespace);
    const up = await runCli(["up", "--ssh-host", host, ...sshFlags, "--ssh-known-hosts", join(dir, "known_hosts"), "--namespace", namespace, "--vms", "2", "--ttl", "10m", "--json"], env);
    t.equal(up.code, 0, up.stderr + sshdLog());
    const inventory = JSON.parse(up.stdout);
    t.equal(inventory.target, "ssh");
    t.same(inventory.agents.map((a: { name: string }) => a.name), ["agent-001", "agent-002"]);

    const run = await runCli(["run", "health", "--namespace", namespace], env);
    t.equal(run.code, 0, run.stderr + run.stdout);
    t.match(run.stdout, /all 2 agents healthy/);

    const list = await runCli(["list", "--namespace", namespace, "--json"], env);
    t.equal(JSON.parse(list.stdout).length, 2);
    const all = JSON.parse((await runCli(["list", "--json"], env)).stdout) as { namespace: string; target: string; agents: number }[];
    t.match(all.find((s) => s.namespace === namespace), { target: "ssh", agents: 2 }, "list without --namespace counts the SSH-host fleet on its hosts");

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
