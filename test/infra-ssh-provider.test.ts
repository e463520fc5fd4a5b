// The ssh target's dynamic provider, for real, short of the Pulumi engine: the program runs under
// mocks, and the provider Pulumi serialized for the stack is then loaded in a plain Node process
// (no tsx, as in Pulumi's dynamic-provider host) and asked to create, diff and delete agents on a
// real sshd on a loopback port that controls this machine's Docker engine.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { parseInventory } from "../src/core/inventory.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";
import { requireSshd, startSshd } from "./helpers/sshd.ts";

const docker = await requireDocker(t);
const haveSshd = docker ? await requireSshd(t) : false;

/** Stands in for Pulumi's dynamic-provider host: loads `__provider` and calls one method. */
const HOST = `
const [file, method] = process.argv.slice(2);
const provider = require(file).handler();
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const args = JSON.parse(input);
  const result = await provider[method](...args);
  process.stdout.write(JSON.stringify(result ?? null));
  process.exit(0);
});
`;

/** A secret input arrives at the provider as its plain value. */
function plain(value: unknown): unknown {
  return value && typeof value === "object" && pulumi.runtime.specialSigKey in value ? (value as unknown as { value: unknown }).value : value;
}

if (docker && haveSshd) {
  const home = await tempHome(t);
  const sshd = await startSshd(t, join(home, "host"));
  const namespace = uniqueNamespace("prov");
  cleanupNamespace(t, docker, namespace);

  const { mocks, declared } = fieldtestMocks();
  pulumi.runtime.setAllConfig({
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "10m",
    "fieldtest:expiresAt": new Date(Date.now() + 10 * 60 * 1000).toISOString(),
    "fieldtest:sshHosts": JSON.stringify([{ host: "127.0.0.1", port: sshd.port }]),
    "fieldtest:sshKnownHosts": join(sshd.dir, "known_hosts"),
    "fieldtest:sshKeyPath": join(sshd.dir, "operator_key"),
  });
  await pulumi.runtime.setMocks(mocks, "fieldtest", namespace, false);
  const program = await import("../infra/index.ts");
  await resolved(program.inventory);
  const resource = declared.find((r) => r.type === "pulumi-nodejs:dynamic:Resource");
  if (!resource) throw new Error("the program declared no ssh agents");
  const providerFile = join(home, "provider.cjs");
  await writeFile(providerFile, String(resource.inputs["__provider"]));
  await writeFile(join(home, "host.cjs"), HOST);
  // The mocked tls key is not a usable key: give the agents a real client key, as tls would.
  const client = generateEd25519KeyPair("client");
  const { __provider, ...rest } = resource.inputs;
  // As for the third host of fieldtest:sshHosts: its agent is agent-003.
  const inputs = { ...Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, plain(v)])), firstAgentIndex: 2, clientPrivateKey: client.privateKey, clientPublicKey: client.publicKey };

  const call = (method: string, args: unknown[]) =>
    new Promise<any>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [join(home, "host.cjs"), providerFile, method],
        // Where Pulumi starts the plugin: the folder of Pulumi.yaml's main, from which it finds fieldtest.
        { cwd: join(ROOT, "infra"), env: { ...process.env, NODE_OPTIONS: "" }, maxBuffer: 16 << 20 },
        (error, stdout, stderr) => (error ? reject(new Error(`${method}: ${error.message}\n${stderr}${sshd.log()}`)) : resolve(JSON.parse(stdout))),
      );
      child.stdin!.end(JSON.stringify(args));
    });

  t.test("create runs upSshHosts: the agent on the host, and an inventory the runtime uses", async (t) => {
    const created = await call("create", [inputs]);
    t.equal(created.id, namespace);
    const inventory = parseInventory(created.outs.inventory);
    t.equal(inventory.target, "ssh");
    t.same(inventory.agents.map((agent) => [agent.name, agent.host]), [["agent-003", "127.0.0.1"]], "named after the host's place in the list");
    t.equal(await containerCount(docker, namespace), 1);

    await writeFile(join(home, "inventory.json"), JSON.stringify(inventory));
    await writeFile(join(home, "client_key"), client.privateKey, { mode: 0o600 });
    const run = await runCli(["run", "health", "--inventory", join(home, "inventory.json"), "--ssh-key", join(home, "client_key")], { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" });
    t.equal(run.code, 0, run.stderr + run.stdout);
    t.match(run.stdout, /all 1 agents? healthy/);
  });

  t.test("diff changes nothing for the same inputs, and replaces the agents, old ones first, for an extended expiry", async (t) => {
    t.same(await call("diff", [namespace, inputs, inputs]), { changes: false, replaces: [], deleteBeforeReplace: true });
    t.same(await call("diff", [namespace, inputs, { ...inputs, expiresAt: new Date(Date.now() + 3600_000).toISOString() }]), {
      changes: true,
      replaces: ["expiresAt"],
      deleteBeforeReplace: true,
    });
  });

  t.test("delete runs destroySshFleet: the namespace's containers are gone", async (t) => {
    await call("delete", [namespace, inputs]);
    t.equal(await containerCount(docker, namespace), 0);
  });
}
