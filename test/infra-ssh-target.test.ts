// The ssh target under mocks: the dynamic resource's inputs and the inventory output. Its provider
// (src/ssh-hosts/fleet.ts) is not run here; test/ssh-hosts.test.ts runs those functions end to end.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { generateEd25519KeyPair, knownHostsLine } from "../src/keys.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";
import { tempHome } from "./helpers/fleet.ts";

const dir = await tempHome(t);
const operator = generateEd25519KeyPair("operator");
const pinned = generateEd25519KeyPair("h2").publicKey;
const known = generateEd25519KeyPair("h1").publicKey.split(" ").slice(0, 2).join(" ");
await writeFile(join(dir, "known_hosts"), `${knownHostsLine("192.0.2.10", 22, known)}\n`);

const { mocks, declared } = fieldtestMocks();
// What the provider answers for the agents, given here rather than made up by the mocks, so the
// test checks what the program does with it: the stack's inventory output, validated.
const providerAnswer = {
  namespace: "lab",
  target: "ssh",
  createdAt: "2030-01-01T00:00:00.000Z",
  expiresAt: "2030-01-01T00:45:00.000Z",
  agents: [
    { name: "agent-001", host: "192.0.2.10", sshPort: 30000, user: "root", hostKey: known, portRange: [30000, 30019] },
    { name: "agent-002", host: "192.0.2.11", sshPort: 30000, user: "root", hostKey: pinned, portRange: [30000, 30019] },
  ],
};
const answering: pulumi.runtime.Mocks = {
  call: (args) => mocks.call(args),
  async newResource(args) {
    const created = await mocks.newResource(args);
    return args.type === "pulumi-nodejs:dynamic:Resource" ? { ...created, state: { ...created.state, inventory: providerAnswer } } : created;
  },
};
pulumi.runtime.setAllConfig(
  {
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "45m",
    "fieldtest:owner": "Ops",
    "fieldtest:portsPerAgent": "20",
    "fieldtest:sshHosts": JSON.stringify([{ host: "192.0.2.10" }, { host: "192.0.2.11", port: 2222, user: "ops", hostKey: pinned }]),
    "fieldtest:sshKnownHosts": join(dir, "known_hosts"),
    "fieldtest:sshPrivateKey": operator.privateKey,
  },
  ["fieldtest:sshPrivateKey"],
);
await pulumi.runtime.setMocks(answering, "fieldtest", "lab", false);
const startedAt = Date.now();
const program = await import("../infra/index.ts");
const inventory = await resolved(program.inventory);
const agents = declared.filter((resource) => resource.type === "pulumi-nodejs:dynamic:Resource");

t.test("one dynamic resource holds the agents, with pinned host keys and the operator's key", async (t) => {
  t.equal(agents.length, 1);
  const inputs = agents[0]!.inputs;
  t.equal(agents[0]!.name, "lab-agents");
  t.match(inputs, { namespace: "lab", owner: "Ops", ttlSeconds: 2700, portsPerAgent: 20, count: 2, image: { alias: "debian", dockerfilesDir: /\/dockerfiles$/ } });
  t.same(inputs["hosts"], [
    { user: "root", host: "192.0.2.10", port: 22, hostKey: known },
    { user: "ops", host: "192.0.2.11", port: 2222, hostKey: pinned },
  ]);
  t.same(inputs["operatorPrivateKey"], { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: operator.privateKey }, "the operator's key is passed as a secret");
  t.match(inputs["clientPrivateKey"], /BEGIN OPENSSH PRIVATE KEY/);
  t.match(inputs["clientPublicKey"], /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  t.ok(Date.parse(inputs["requestedAt"]) >= startedAt - 1000, "each update asks for a fresh TTL");
  t.match(inputs["__provider"], /upSshHosts/, "the provider calls the plain functions");
  t.match(inputs["__provider"], /destroySshFleet/);
});

t.test("the inventory output is the provider's inventory, validated for the runtime", async (t) => {
  t.same(inventory, { ...providerAnswer, agents: providerAnswer.agents.map((agent) => ({ ...agent, labels: {} })) }, "the schema's defaults show it was parsed");
});

t.test("the client key is a secret output; no resource besides the key, the agents and the component", async (t) => {
  t.equal(await pulumi.isSecret(program.clientPrivateKey), true);
  t.same(declared.map((resource) => resource.type).sort(), ["fieldtest:ssh:Fleet", "pulumi-nodejs:dynamic:Resource", "tls:index/privateKey:PrivateKey"]);
});
