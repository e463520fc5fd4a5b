// The ssh target under mocks: the dynamic resource's inputs and the inventory output. Its provider
// (src/targets/ssh-hosts/fleet.ts) is not run here; test/ssh-hosts.test.ts runs those functions end to end.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { generateEd25519KeyPair, knownHostsLine } from "../src/transport/keys.ts";
import { fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";
import { ROOT, tempHome } from "./helpers/fleet.ts";

const dir = await tempHome(t);
const operator = generateEd25519KeyPair("operator");
const pinned = generateEd25519KeyPair("h2").publicKey;
const known = generateEd25519KeyPair("h1").publicKey.split(" ").slice(0, 2).join(" ");
await writeFile(join(dir, "known_hosts"), `${knownHostsLine("192.0.2.10", 22, known)}\n`);

const { mocks, declared } = fieldtestMocks();
const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 45 * 60 * 1000);
// What the provider answers for each host's agent, given here rather than made up by the mocks, so
// the test checks what the program does with the answers: one inventory, validated, with groups.
function providerAnswer(host: string, name: string, hostKey: string) {
  return {
    namespace: "lab",
    target: "ssh",
    createdAt: "2030-01-01T00:00:00.000Z",
    expiresAt: "2030-01-01T00:45:00.000Z",
    agents: [{ name, host, sshPort: 30000, user: "root", hostKey, portRange: [30000, 30019] }],
  };
}
const answers: Record<string, ReturnType<typeof providerAnswer>> = {
  "192.0.2.10": providerAnswer("192.0.2.10", "agent-001", known),
  "192.0.2.11": providerAnswer("192.0.2.11", "agent-002", pinned),
};
const answering: pulumi.runtime.Mocks = {
  call: (args) => mocks.call(args),
  async newResource(args) {
    const created = await mocks.newResource(args);
    if (args.type !== "pulumi-nodejs:dynamic:Resource") return created;
    const host = (args.inputs["hosts"] as Array<{ host: string }>)[0]!.host;
    return { ...created, state: { ...created.state, inventory: answers[host] } };
  },
};
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
await pulumi.runtime.setMocks(answering, "fieldtest", "lab", false);
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
  t.match(inputs, { namespace: "lab", owner: "Ops", expiresAt: expiresAt.toISOString(), portsPerAgent: 20, image: "debian" });
  t.notOk(JSON.stringify(inputs).includes(ROOT), "no path of this checkout in the state: an `up` from elsewhere changes nothing");
  t.same(inputs["operatorPrivateKey"], { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: operator.privateKey }, "the operator's key is passed as a secret");
  t.match(inputs["clientPrivateKey"], /BEGIN OPENSSH PRIVATE KEY/);
  t.match(inputs["clientPublicKey"], /^ssh-ed25519 [A-Za-z0-9+/]+=*$/);
  t.notOk("requestedAt" in inputs || "ttlSeconds" in inputs, "nothing taken from the clock: the anchored expiry only");
  t.match(inputs["__provider"], /upSshHosts/, "the provider calls the plain functions");
  t.match(inputs["__provider"], /destroySshFleet/);
});

t.test("the inventory output joins the hosts' answers into one valid inventory with groups", async (t) => {
  const agent = (name: string, host: string, hostKey: string) => ({ name, host, sshPort: 30000, user: "root", hostKey, portRange: [30000, 30019], labels: {}, group: "agent" });
  t.same(inventory, {
    namespace: "lab",
    target: "ssh",
    createdAt: new Date(expiresAt.getTime() - 45 * 60 * 1000).toISOString(),
    expiresAt: expiresAt.toISOString(),
    agents: [agent("agent-001", "192.0.2.10", known), agent("agent-002", "192.0.2.11", pinned)],
  }, "the fleet's own anchored times, the answers' agents with the schema's defaults and their group");
});

t.test("the client key is a secret output; no resource besides the key, the agents and the component", async (t) => {
  t.equal(await pulumi.isSecret(program.clientPrivateKey), true);
  t.same(declared.map((resource) => resource.type).sort(), ["fieldtest:ssh:Fleet", "pulumi-nodejs:dynamic:Resource", "pulumi-nodejs:dynamic:Resource", "tls:index/privateKey:PrivateKey"]);
});
