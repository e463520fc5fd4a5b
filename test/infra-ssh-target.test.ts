// The ssh target under mocks: the dynamic resource's inputs and the inventory output. Its provider
// (src/ssh-hosts/fleet.ts) is not run here; test/ssh-hosts.test.ts runs those functions end to end.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { generateEd25519KeyPair, knownHostsLine } from "../src/keys.ts";
import { inventorySchema } from "../src/core/inventory.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";
import { tempHome } from "./helpers/fleet.ts";

const dir = await tempHome(t);
const operator = generateEd25519KeyPair("operator");
const pinned = generateEd25519KeyPair("h2").publicKey;
const known = generateEd25519KeyPair("h1").publicKey.split(" ").slice(0, 2).join(" ");
await writeFile(join(dir, "known_hosts"), `${knownHostsLine("192.0.2.10", 22, known)}\n`);

const { mocks, declared } = fieldtestMocks();
const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 45 * 60 * 1000);
pulumi.runtime.setAllConfig(
  {
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "45m",
    "fieldtest:expiresAt": expiresAt.toISOString(),
    "fieldtest:owner": "Ops",
    "fieldtest:portsPerAgent": "20",
    "fieldtest:sshHosts": JSON.stringify([{ host: "192.0.2.10" }, { host: "192.0.2.11", port: 2222, user: "ops", hostKey: pinned }]),
    "fieldtest:sshKnownHosts": join(dir, "known_hosts"),
    "fieldtest:sshPrivateKey": operator.privateKey,
  },
  ["fieldtest:sshPrivateKey"],
);
await pulumi.runtime.setMocks(mocks, "fieldtest", "lab", false);
const program = await import("../infra/index.ts");
const inventory = await resolved(program.inventory);
const agents = declared.filter((resource) => resource.type === "pulumi-nodejs:dynamic:Resource");

t.test("one dynamic resource per host holds its agent, with its pinned host key and the operator's key", async (t) => {
  agents.sort((a, b) => a.name.localeCompare(b.name));
  t.same(agents.map((agent) => agent.name), ["lab-agent-ops-192.0.2.11-2222", "lab-agent-root-192.0.2.10-22"]);
  t.same(
    agents.map((agent) => [agent.inputs["firstAgentIndex"], agent.inputs["count"], agent.inputs["hosts"]]),
    [
      [1, 1, [{ user: "ops", host: "192.0.2.11", port: 2222, hostKey: pinned }]],
      [0, 1, [{ user: "root", host: "192.0.2.10", port: 22, hostKey: known }]],
    ],
  );
  const inputs = agents[1]!.inputs;
  t.match(inputs, { namespace: "lab", owner: "Ops", expiresAt: expiresAt.toISOString(), portsPerAgent: 20, image: { alias: "debian", dockerfilesDir: /\/dockerfiles$/ } });
  t.same(inputs["operatorPrivateKey"], { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: operator.privateKey }, "the operator's key is passed as a secret");
  t.match(inputs["clientPrivateKey"], /BEGIN OPENSSH PRIVATE KEY/);
  t.match(inputs["clientPublicKey"], /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  t.notOk("requestedAt" in inputs || "ttlSeconds" in inputs, "nothing taken from the clock: the anchored expiry only");
  t.match(inputs["__provider"], /upSshHosts/, "the provider calls the plain functions");
  t.match(inputs["__provider"], /destroySshFleet/);
});

t.test("the inventory output is the agents' inventory, valid for the runtime", async (t) => {
  const parsed = inventorySchema.parse(inventory);
  t.equal(parsed.target, "ssh");
  t.equal(parsed.namespace, "lab");
  t.equal(parsed.expiresAt, expiresAt.toISOString(), "the anchored expiry");
  t.same(parsed.agents.map((agent) => [agent.name, agent.group, agent.host]), [["agent-001", "agent", "192.0.2.10"], ["agent-002", "agent", "192.0.2.11"]]);
});

t.test("the client key is a secret output; no resource besides the key, the agents and the component", async (t) => {
  t.equal(await pulumi.isSecret(program.clientPrivateKey), true);
  t.same(declared.map((resource) => resource.type).sort(), ["fieldtest:ssh:Fleet", "pulumi-nodejs:dynamic:Resource", "pulumi-nodejs:dynamic:Resource", "tls:index/privateKey:PrivateKey"]);
});
