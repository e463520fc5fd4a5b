// One target per namespace, chosen from its record: a namespace of one kind is never
// provisioned, or torn down, as another.
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { portIsFree } from "../src/targets/docker-engine/ports.ts";
import { containerCount, requireDocker, runCli, tempHome, uniqueNamespace, cleanupNamespace } from "./helpers/fleet.ts";

const exists = (path: string) => access(path).then(() => true, () => false);

/** A loopback port nothing listens on: the recorded SSH host is unreachable, so nothing can hide behind it. */
async function closedPort(): Promise<number> {
  for (let port = 24000 + Math.floor(Math.random() * 2000); ; port++) if (await portIsFree(port)) return port;
}

const docker = await requireDocker(t);
if (docker) {
  t.test("run --localhost and up --localhost refuse an SSH-host namespace and create nothing", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("bob");
    cleanupNamespace(t, docker, namespace);
    const dir = join(home, "namespaces", namespace);
    await mkdir(dir, { recursive: true });
    const operatorKey = join(home, "operator_key");
    await writeFile(operatorKey, generateEd25519KeyPair("operator").privateKey, { mode: 0o600 });
    const port = await closedPort();
    const record = join(dir, "ssh-fleet.json");
    await writeFile(record, JSON.stringify({ target: "ssh", hosts: [{ user: "root", host: "127.0.0.1", port, hostKey: generateEd25519KeyPair("host").publicKey }], operatorKeyPath: operatorKey }));
    for (const args of [["run", "health", "--localhost", "--vms", "1"], ["up", "--localhost", "--vms", "1"]]) {
      const result = await runCli([...args, "--namespace", namespace, "--ttl", "1m"], { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" });
      t.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      t.match(result.stderr, new RegExp(`namespace ${namespace} holds agents on SSH hosts \\(root@127\\.0\\.0\\.1:${port}\\): \`fieldtest destroy --namespace ${namespace}\` first`), args.join(" "));
      t.equal(await containerCount(docker, namespace), 0, `${args.join(" ")}: no local agent was created`);
      t.equal(await exists(record), true, `${args.join(" ")}: the SSH-host record stays`);
    }
  });

  t.test("up --ssh-host refuses a namespace whose agents are on this machine's engine", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("loc");
    cleanupNamespace(t, docker, namespace);
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
    const up = await runCli(["up", "--localhost", "--namespace", namespace, "--vms", "1", "--ttl", "2m"], env);
    t.equal(up.code, 0, up.stderr);
    const keys = join(home, "keys");
    await mkdir(keys);
    await writeFile(join(keys, "operator_key"), generateEd25519KeyPair("operator").privateKey, { mode: 0o600 });
    const port = await closedPort();
    await writeFile(join(keys, "known_hosts"), `[127.0.0.1]:${port} ${generateEd25519KeyPair("host").publicKey}\n`);
    const ssh = await runCli(["up", "--ssh-host", `root@127.0.0.1:${port}`, "--ssh-key", join(keys, "operator_key"), "--ssh-known-hosts", join(keys, "known_hosts"), "--namespace", namespace], env);
    t.equal(ssh.code, 2, ssh.stderr);
    t.match(ssh.stderr, new RegExp(`namespace ${namespace} has agents on this machine's Docker engine`));
    t.equal(await exists(join(home, "namespaces", namespace, "ssh-fleet.json")), false, "no SSH-host record was written");
    t.equal(await containerCount(docker, namespace), 1, "the local agent is untouched");
  });
}
