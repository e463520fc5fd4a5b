import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { inventorySchema } from "../src/core/inventory.ts";
import { imageContentTag } from "../src/core/image-catalog.ts";
import { LABELS } from "../src/core/namespace.ts";
import { gcpSecretCommand, gcpStartupScript } from "../infra/gcp-startup-script.ts";
import { fakeOpenSshKey, fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";

const fakeKeyOf = (name: string) => fakeOpenSshKey(name).privateKeyOpenssh;

const { mocks, declared } = fieldtestMocks();
// As `fieldtest up --cloud` anchors it: whole seconds, 90 minutes ahead.
const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 90 * 60 * 1000);
pulumi.runtime.setAllConfig({
  "fieldtest:target": "gcp",
  "fieldtest:ttl": "90m",
  "fieldtest:expiresAt": expiresAt.toISOString(),
  "fieldtest:owner": "Alice",
  "fieldtest:portsPerAgent": "50",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.0/24"]),
  "fieldtest:openPorts": JSON.stringify([{ ports: "30010-30019", sourceRanges: ["198.51.100.0/24"] }]),
  "fieldtest:agents": JSON.stringify([
    { name: "node", count: 2 },
    { name: "baker", count: 1, machineType: "e2-standard-4", diskGb: 40 },
  ]),
  "gcp:project": "my-project",
  "gcp:zone": "europe-west1-b",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "alice", false);
const program = await import("../infra/index.ts");
const inventory = await resolved(program.inventory);

const custom = declared.filter((resource) => resource.custom);
// Registration order follows output resolution, not declaration order: compare by name.
const ofType = (type: string) => custom.filter((resource) => resource.type === type).sort((a, b) => a.name.localeCompare(b.name));
const instances = ofType("gcp:compute/instance:Instance");

t.test("inventory output is valid for the runtime", async (t) => {
  const parsed = inventorySchema.parse(inventory);
  t.equal(parsed.target, "gcp");
  t.equal(parsed.namespace, "alice");
  t.equal(parsed.expiresAt, expiresAt.toISOString(), "the anchored expiry, not the time of the run plus the TTL");
  t.equal(Date.parse(parsed.expiresAt) - Date.parse(parsed.createdAt), 90 * 60 * 1000, "createdAt is the expiry minus the TTL");
  t.same(
    parsed.agents.map((agent) => [agent.name, agent.group]),
    [["node-001", "node"], ["node-002", "node"], ["baker-001", "baker"]],
    "inventory names follow src/core/naming.ts: <group>-NNN from 001",
  );
  for (const agent of parsed.agents) {
    t.match(agent, { sshPort: 30000, user: "root", portRange: [30000, 30049], host: /^203\.0\./, internalHost: /^10\.42\./ });
    t.match(agent.hostKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/, "host key is a bare OpenSSH public key line");
    t.equal(agent.labels[LABELS.namespace], "alice");
    t.equal(agent.labels[LABELS.expiresAt], String(Math.floor(Date.parse(parsed.expiresAt) / 1000)));
  }
  t.equal(new Set(parsed.agents.map((agent) => agent.hostKey)).size, 3, "every agent has its own host key");
});

t.test("the client private key is a secret output", async (t) => {
  t.equal(await pulumi.isSecret(program.clientPrivateKey), true);
  t.match(await resolved(program.clientPrivateKey), /BEGIN OPENSSH PRIVATE KEY/);
});

t.test("every labelable resource carries the three fieldtest labels", async (t) => {
  // These GCP resources have no labels field; their names carry the namespace instead.
  const unlabelable = new Set([
    "gcp:compute/network:Network",
    "gcp:compute/subnetwork:Subnetwork",
    "gcp:compute/firewall:Firewall",
    "gcp:serviceaccount/account:Account",
    "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "gcp:secretmanager/secretIamMember:SecretIamMember",
    "tls:index/privateKey:PrivateKey",
    // Image labels would be baked into the image and change its digest at every run.
    "docker-build:index:Image",
  ]);
  const expected = { [LABELS.namespace]: "alice", [LABELS.owner]: "alice", [LABELS.expiresAt]: /^\d+$/ };
  for (const resource of custom) {
    if (unlabelable.has(resource.type)) {
      t.ok(resource.name.startsWith("alice-"), `${resource.type} ${resource.name} is named after the namespace`);
      continue;
    }
    t.match(resource.inputs["labels"], expected, `${resource.type} ${resource.name} is labelled`);
  }
  for (const instance of instances) {
    t.match(instance.inputs["bootDisk"].initializeParams.labels, expected, `boot disk of ${instance.name} is labelled`);
  }
  t.equal(ofType("gcp:artifactregistry/repository:Repository").length, 1);
});

t.test("Google deletes every VM at the anchored expiry", async (t) => {
  t.equal(instances.length, 3);
  for (const instance of instances) {
    t.same(
      instance.inputs["scheduling"],
      { provisioningModel: "STANDARD", instanceTerminationAction: "DELETE", terminationTime: expiresAt.toISOString().replace(".000Z", "Z") },
      `${instance.name} scheduling: an absolute time, the same for a VM added later`,
    );
    t.equal(instance.inputs["labels"][LABELS.expiresAt], String(expiresAt.getTime() / 1000));
  }
});

t.test("only the namespace's client key opens the ops door", async (t) => {
  for (const instance of instances) {
    t.equal(instance.inputs["metadata"]["block-project-ssh-keys"], "true", `${instance.name} blocks the project's ssh keys`);
    t.match(instance.inputs["metadata"]["ssh-keys"], /^fieldtest:ssh-ed25519 \S+$/);
  }
});

t.test("instances are named, shaped and booted as configured", async (t) => {
  t.same(
    instances.map((instance) => [instance.inputs["name"], instance.inputs["machineType"], instance.inputs["bootDisk"].initializeParams.size]),
    [
      ["alice--baker-001", "e2-standard-4", 40],
      ["alice--node-001", "e2-standard-2", 20],
      ["alice--node-002", "e2-standard-2", 20],
    ],
  );
  for (const instance of instances) {
    t.equal(instance.inputs["zone"], "europe-west1-b");
    t.same(instance.inputs["tags"], ["alice-agent"]);
    t.notOk("gce-container-declaration" in instance.inputs["metadata"], "no deprecated container declaration");
    const script: string = instance.inputs["metadata"]["startup-script"];
    t.doesNotThrow(() => execFileSync("bash", ["-n"], { input: script }), `${instance.name} startup script is valid bash`);
    t.match(script, /apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends docker\.io/);
    t.match(script, /docker login --username oauth2accesstoken --password-stdin https:\/\/europe-west1-docker\.pkg\.dev/);
    t.match(script, /docker create --name fieldtest-agent --network host --rm/);
    t.match(script, new RegExp(`FIELDTEST_EXPIRES_AT=${expiresAt.getTime() / 1000} -e FIELDTEST_SSH_PORT=30000`));
    t.match(script, /europe-west1-docker\.pkg\.dev\/my-project\/alice-images\/debian:debian-[0-9a-f]{12}\n/, "runs the pushed image by its content tag");
    t.notMatch(script, /PRIVATE KEY-----/, "no private key in the VM's metadata");
    t.match(script, new RegExp(`secretmanager\\.googleapis\\.com/v1/projects/my-project/secrets/${instance.name}-host-key/versions/latest:access[^]*docker cp /etc/fieldtest/ssh_host_ed25519_key fieldtest-agent:/etc/ssh/ssh_host_ed25519_key`));
    t.match(script, /docker cp \/etc\/fieldtest\/authorized_keys fieldtest-agent:\/root\/\.ssh\/authorized_keys\ndocker start fieldtest-agent/);
  }
});

t.test("the startup script is gcpStartupScript's text, which the VM stand-in test runs", async (t) => {
  for (const instance of instances) {
    const clientKey: string = instance.inputs["metadata"]["ssh-keys"].replace(/^fieldtest:/, "");
    const expected = gcpStartupScript({
      image: `europe-west1-docker.pkg.dev/my-project/alice-images/debian:${imageContentTag({ dir: "dockerfiles", alias: "debian" })}`,
      project: "my-project",
      secretId: `${instance.name}-host-key`,
      authorizedKey: clientKey,
      expiresAt,
      registryHost: "europe-west1-docker.pkg.dev",
    });
    t.equal(instance.inputs["metadata"]["startup-script"], expected, instance.name);
  }
});

t.test("the firewall opens sshd to the source ranges, the agents' ports between agents, and what the stack opens", async (t) => {
  const rules = ofType("gcp:compute/firewall:Firewall").map((rule) => ({
    name: rule.inputs["name"],
    sourceRanges: rule.inputs["sourceRanges"],
    sourceTags: rule.inputs["sourceTags"],
    allows: rule.inputs["allows"],
    targetTags: rule.inputs["targetTags"],
  }));
  t.same(rules, [
    { name: "alice-agents", sourceRanges: undefined, sourceTags: ["alice-agent"], allows: [{ protocol: "tcp", ports: ["30000-30049"] }, { protocol: "udp", ports: ["30000-30049"] }], targetTags: ["alice-agent"] },
    { name: "alice-open-0", sourceRanges: ["198.51.100.0/24"], sourceTags: undefined, allows: [{ protocol: "tcp", ports: ["30010-30019"] }], targetTags: ["alice-agent"] },
    { name: "alice-ssh", sourceRanges: ["203.0.113.0/24"], sourceTags: undefined, allows: [{ protocol: "tcp", ports: ["22", "30000"] }], targetTags: ["alice-agent"] },
  ]);
  t.same(
    ofType("gcp:compute/network:Network").map((network) => [network.inputs["name"], network.inputs["autoCreateSubnetworks"]]),
    [["alice-network", false]],
  );
});

t.test("one image per alias, pushed to the namespace's repository", async (t) => {
  const images = ofType("docker-build:index:Image");
  t.equal(images.length, 1);
  t.match(images[0]?.inputs, {
    push: true,
    tags: [`europe-west1-docker.pkg.dev/my-project/alice-images/debian:${imageContentTag({ dir: "dockerfiles", alias: "debian" })}`],
    context: { location: "dockerfiles" },
    dockerfile: { location: "dockerfiles/debian.Dockerfile" },
    registries: [{ address: "europe-west1-docker.pkg.dev", username: "oauth2accesstoken" }],
  });
  t.match(ofType("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember")[0]?.inputs, {
    role: "roles/artifactregistry.reader",
    member: "serviceAccount:alice-agent@project.iam.gserviceaccount.com",
  });
});

t.test("resources are grouped under one component per concept", async (t) => {
  const components = declared.filter((resource) => !resource.custom).map((resource) => resource.type);
  t.same(
    [...new Set(components)].sort(),
    ["fieldtest:gcp:Agent", "fieldtest:gcp:AgentImages", "fieldtest:gcp:AgentNetwork", "fieldtest:gcp:Fleet"],
  );
});

t.test("each host key is a Secret Manager secret only the namespace's service account may read", async (t) => {
  const secrets = ofType("gcp:secretmanager/secret:Secret");
  t.same(secrets.map((secret) => secret.inputs["secretId"]), ["alice--baker-001-host-key", "alice--node-001-host-key", "alice--node-002-host-key"]);
  const versions = ofType("gcp:secretmanager/secretVersion:SecretVersion");
  for (const version of versions) {
    t.same(version.inputs["secretData"], { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: fakeKeyOf(`${version.name}`) }, `${version.name} holds the agent's host key, as a secret`);
  }
  t.same(
    ofType("gcp:secretmanager/secretIamMember:SecretIamMember").map((member) => [member.inputs["secretId"], member.inputs["role"], member.inputs["member"]]),
    secrets.map((secret) => [secret.inputs["secretId"], "roles/secretmanager.secretAccessor", "serviceAccount:alice-agent@project.iam.gserviceaccount.com"]),
  );
});

t.test("the startup script's key command decodes Secret Manager's answer", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fieldtest-gcp-curl-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
  // A stand-in for curl: the metadata server's token, then the REST answer, pretty-printed as Google sends it.
  const answer = JSON.stringify({ name: "projects/1/secrets/s/versions/1", payload: { data: Buffer.from(key).toString("base64"), dataCrc32c: "1" } }, null, 2);
  writeFileSync(join(dir, "answer.json"), answer);
  writeFileSync(
    join(dir, "curl"),
    `#!/bin/bash\ncase "$*" in\n  *metadata.google.internal*) echo '{"access_token":"tok","expires_in":3599}';;\n  *"Bearer tok"*secretmanager*) cat ${join(dir, "answer.json")};;\n  *) exit 22;;\nesac\n`,
    { mode: 0o755 },
  );
  const output = execFileSync("bash", ["-c", `set -euo pipefail; ${gcpSecretCommand("my-project", "alice--node-001-host-key")}`], { env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` }, encoding: "utf8" });
  t.equal(output, key);
});
