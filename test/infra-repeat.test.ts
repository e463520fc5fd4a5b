// A second `pulumi up` with the same config must change nothing: the program is run again under
// mocks minutes later, and every resource must be declared with the same inputs; a group raised
// from 3 to 5 agents adds two and leaves the first three as they were.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t, { type Test } from "tap";
import { generateEd25519KeyPair, knownHostsLine } from "../src/transport/keys.ts";
import { runProgramAt, type DeclaredResource } from "./fixtures/pulumi-mocks.ts";
import { tempHome } from "./helpers/fleet.ts";

const first = new Date(Math.floor(Date.now() / 1000) * 1000);
const minutesLater = new Date(first.getTime() + 7 * 60 * 1000);
const expiresAt = new Date(first.getTime() + 2 * 3600 * 1000).toISOString();

const INSTANCE_TYPE: Record<string, string> = { gcp: "gcp:compute/instance:Instance", aws: "aws:ec2/instance:Instance" };

function sameInputs(t: Test, before: Map<string, DeclaredResource>, after: Map<string, DeclaredResource>, keys: Iterable<string>): void {
  for (const key of keys) t.same(after.get(key)?.inputs, before.get(key)?.inputs, `${key}: same inputs`);
}

function agents(config: Record<string, string>, count: number): Record<string, string> {
  return { ...config, "fieldtest:agents": JSON.stringify([{ name: "node", count }, { name: "big", count: 1, machineType: config["fieldtest:target"] === "gcp" ? "e2-standard-4" : "t3.large" }]) };
}

const clouds: Record<string, Record<string, string>> = {
  gcp: {
    "fieldtest:target": "gcp",
    "fieldtest:ttl": "2h",
    "fieldtest:expiresAt": expiresAt,
    "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
    "gcp:project": "my-project",
    "gcp:zone": "europe-west1-b",
  },
  aws: {
    "fieldtest:target": "aws",
    "fieldtest:ttl": "2h",
    "fieldtest:expiresAt": expiresAt,
    "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
    "aws:region": "eu-west-1",
  },
};

for (const [target, config] of Object.entries(clouds)) {
  t.test(`${target}: the same config minutes later declares the same resources with the same inputs`, async (t) => {
    const before = await runProgramAt(first, "alice", agents(config, 3));
    const after = await runProgramAt(minutesLater, "alice", agents(config, 3));
    t.same([...after.keys()].sort(), [...before.keys()].sort(), "the same resources");
    t.equal([...before.values()].filter((r) => r.type === INSTANCE_TYPE[target]).length, 4, "four instances");
    sameInputs(t, before, after, before.keys());
  });

  t.test(`${target}: raising a group from 3 to 5 adds two agents and leaves the others as they were`, async (t) => {
    const before = await runProgramAt(first, "alice", agents(config, 3));
    const after = await runProgramAt(minutesLater, "alice", agents(config, 5));
    const added = [...after.keys()].filter((key) => !before.has(key));
    t.same(
      added.filter((key) => key.startsWith(`${INSTANCE_TYPE[target]}::`)).sort(),
      [`${INSTANCE_TYPE[target]}::alice-node-004`, `${INSTANCE_TYPE[target]}::alice-node-005`],
      "two instances added, numbered on",
    );
    t.ok(
      added.every((key) => /::alice-node-00[45]\b/.test(key)),
      "everything else added belongs to the two new agents (host key and its secret)",
    );
    t.same([...before.keys()].filter((key) => !after.has(key)), [], "nothing removed");
    sameInputs(t, before, after, before.keys());
  });
}

t.test("ssh: the same config minutes later changes nothing; two more hosts add two agents and leave the others alone", async (t) => {
  const dir = await tempHome(t);
  const hosts = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"];
  const knownHosts = hosts.map((host) => knownHostsLine(host, 22, generateEd25519KeyPair(host).publicKey.split(" ").slice(0, 2).join(" ")));
  await writeFile(join(dir, "known_hosts"), `${knownHosts.join("\n")}\n`);
  const config = (count: number) => ({
    "fieldtest:target": "ssh",
    "fieldtest:ttl": "2h",
    "fieldtest:expiresAt": expiresAt,
    "fieldtest:sshHosts": JSON.stringify(hosts.slice(0, count).map((host) => ({ host }))),
    "fieldtest:sshKnownHosts": join(dir, "known_hosts"),
    "fieldtest:sshPrivateKey": operatorKey,
  });
  const operatorKey = generateEd25519KeyPair("operator").privateKey;
  const before = await runProgramAt(first, "lab", config(3), ["fieldtest:sshPrivateKey"]);
  const again = await runProgramAt(minutesLater, "lab", config(3), ["fieldtest:sshPrivateKey"]);
  t.same([...again.keys()].sort(), [...before.keys()].sort());
  t.equal([...before.keys()].filter((key) => key.startsWith("pulumi-nodejs:dynamic:Resource::")).length, 3, "one resource per host");
  sameInputs(t, before, again, before.keys());

  const grown = await runProgramAt(minutesLater, "lab", config(5), ["fieldtest:sshPrivateKey"]);
  t.same(
    [...grown.keys()].filter((key) => !before.has(key)).sort(),
    ["pulumi-nodejs:dynamic:Resource::lab-agent-root-192.0.2.13-22", "pulumi-nodejs:dynamic:Resource::lab-agent-root-192.0.2.14-22"],
  );
  t.same([...grown.values()].filter((r) => !before.has(`${r.type}::${r.name}`)).map((r) => r.inputs["firstAgentIndex"]).sort(), [3, 4], "agent-004 and agent-005");
  sameInputs(t, before, grown, before.keys());
});
