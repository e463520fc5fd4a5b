// The SSH-host path end to end: a real sshd on a loopback port, started by this test with
// key login, stands for a remote machine whose Docker engine is this machine's.
import { randomBytes } from "node:crypto";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { agentImageTag } from "../src/targets/docker-engine/image.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { generateEd25519KeyPair, knownHostsLine } from "../src/transport/keys.ts";
import { agentsPerHost } from "../src/targets/ssh-hosts/fleet.ts";
import { parseSshHost } from "../src/targets/ssh-hosts/host-spec.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, runCli, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";
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
  const { port, dir, hostKey, log: sshdLog } = await startSshd(t, join(home, "host"));
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

    const extend = await runCli(["extend", "--namespace", namespace, "--ttl", "20m", "--json"], env);
    t.equal(extend.code, 0, extend.stderr);
    t.same(JSON.parse(extend.stdout).agents, ["agent-001", "agent-002"]);
    const extended = JSON.parse((await runCli(["list", "--namespace", namespace, "--json"], env)).stdout) as { expiresAt: string }[];
    t.ok(extended.every((a) => Math.abs(Date.parse(a.expiresAt) - Date.now() - 1_200_000) < 60_000), "list on the hosts shows the extended expiry");

    const destroy = await runCli(["destroy", "--namespace", namespace], env);
    t.equal(destroy.code, 0, destroy.stderr);
    t.match(destroy.stdout, /removed 2 agent\(s\)/);
    await waitFor("the agents to be gone", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 10_000);
    t.pass("no container of the namespace is left");
  });

  t.test("reap removes expired containers on a namespace's SSH hosts, then the namespace's state", async (t) => {
    const namespace = uniqueNamespace("ssh");
    cleanupNamespace(t, docker, namespace);
    // What `up --ssh-host` leaves of a fleet whose TTL has passed: its record, and an agent that never started.
    const state = new NamespaceState(home, namespace);
    await state.writeTargetRecord({ target: "ssh", record: { hosts: [{ user: "root", host: "127.0.0.1", port, hostKey: hostKey.publicKey.split(" ").slice(0, 2).join(" ") }], operatorKeyPath: join(dir, "operator_key") } });
    await state.writeExpiry(new Date(Date.now() - 1000));
    const owner = `sshreap-${randomBytes(4).toString("hex")}`;
    const image = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    await docker.createContainer({ Image: image, Labels: { [LABELS.namespace]: namespace, [LABELS.owner]: owner, [LABELS.expiresAt]: String(Math.floor(Date.now() / 1000) - 1), "fieldtest-agent": "agent-009" } });
    const reap = await runCli(["reap", "--owner", owner, "--json"], env);
    t.equal(reap.code, 0, reap.stderr);
    const report = JSON.parse(reap.stdout) as { expired: { namespace: string; agent: string; where: string }[]; states: string[] };
    t.same(report.expired.filter((e) => e.namespace === namespace), [{ namespace, agent: "agent-009", where: host }], "reaped on the recorded host");
    t.same(report.states, [namespace], "the expired namespace's state is removed");
    t.equal(await containerCount(docker, namespace), 0);
    t.equal(await access(join(home, "namespaces", namespace)).then(() => true, () => false), false);
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
