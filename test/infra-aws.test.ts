import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import * as pulumi from "@pulumi/pulumi";
import { imageContentTag } from "../src/core/image-catalog.ts";
import { inventorySchema } from "../src/core/inventory.ts";
import { LABELS } from "../src/core/namespace.ts";
import { awsUserData, ssmParameterCommand } from "../infra/aws-user-data.ts";
import { fakeOpenSshKey, fieldtestMocks, resolved } from "./fixtures/pulumi-mocks.ts";

const { mocks, declared, invoked } = fieldtestMocks();
const expiresAtSeconds = Math.floor(Date.now() / 1000) + 7230;
pulumi.runtime.setAllConfig({
  "fieldtest:target": "aws",
  "fieldtest:namespace": "exp-42",
  "fieldtest:ttl": "2h30s",
  "fieldtest:expiresAt": String(expiresAtSeconds),
  "fieldtest:owner": "bob",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
  "fieldtest:orchestratorRanges": JSON.stringify(["192.0.2.1/32"]),
  "fieldtest:agents": JSON.stringify([{ name: "node", count: 3, diskGb: 30 }]),
  "aws:region": "eu-west-1",
});
await pulumi.runtime.setMocks(mocks, "fieldtest", "some-stack", false);
const program = await import("../infra/index.ts");
const inventory = await resolved(program.inventory);

const custom = declared.filter((resource) => resource.custom);
// Registration order follows output resolution, not declaration order: compare by name.
const ofType = (type: string) => custom.filter((resource) => resource.type === type).sort((a, b) => a.name.localeCompare(b.name));
const instances = ofType("aws:ec2/instance:Instance");

t.test("inventory output is valid for the runtime", async (t) => {
  const parsed = inventorySchema.parse(inventory);
  t.match(parsed, { target: "aws", namespace: "exp-42" });
  t.same(
    parsed.agents.map((agent) => [agent.name, agent.group]),
    [["node-001", "node"], ["node-002", "node"], ["node-003", "node"]],
  );
  for (const agent of parsed.agents) {
    t.match(agent, { sshPort: 30000, user: "root", portRange: [30000, 30099], host: /^198\.51\./, internalHost: /^172\.31\./, hostKey: /^ssh-ed25519 \S+$/ });
    t.match(agent.labels, { [LABELS.namespace]: "exp-42", [LABELS.owner]: "bob" });
  }
});

t.test("every taggable resource carries the fieldtest labels as tags, and a Name", async (t) => {
  // No tags field on these: an inline role policy, a generated key and an image build.
  const untaggable = new Set(["aws:iam/rolePolicy:RolePolicy", "tls:index/privateKey:PrivateKey", "docker-build:index:Image"]);
  const expected = { [LABELS.namespace]: "exp-42", [LABELS.owner]: "bob", [LABELS.expiresAt]: /^\d+$/, Name: /^exp-42-/ };
  for (const resource of custom) {
    if (untaggable.has(resource.type)) {
      t.ok(resource.name.startsWith("exp-42-"), `${resource.type} ${resource.name} is named after the namespace`);
      continue;
    }
    t.match(resource.inputs["tags"], expected, `${resource.type} ${resource.name} is tagged`);
  }
  t.same(instances.map((instance) => instance.inputs["tags"].Name), ["exp-42--node-001", "exp-42--node-002", "exp-42--node-003"], "instances are named <ns>--<agent>");
  for (const instance of instances) {
    t.equal(instance.inputs["tags"].Name, instance.name);
    t.match(instance.inputs["rootBlockDevice"], { volumeSize: 30, tags: expected }, `root volume of ${instance.name} is tagged`);
  }
});

t.test("every instance shuts itself down at the anchored expiry and AWS then terminates it", async (t) => {
  t.equal(instances.length, 3);
  for (const instance of instances) {
    t.equal(instance.inputs["instanceInitiatedShutdownBehavior"], "terminate");
    t.equal(instance.inputs["userDataReplaceOnChange"], true);
    t.equal(instance.inputs["tags"][LABELS.expiresAt], String(expiresAtSeconds));
    const userData: string = instance.inputs["userData"];
    t.doesNotThrow(() => execFileSync("bash", ["-n"], { input: userData }), `${instance.name} user data is valid bash`);
    // The power-off is scheduled before anything that may fail, at the absolute expiry, by a
    // timer kept in /etc (a reboot keeps it), and at once if the expiry passed before boot.
    t.match(userData, new RegExp(`^#!/bin/bash\n[^]*set -euo pipefail\n[^]*if \\(\\( \\$\\(date \\+%s\\) >= ${expiresAtSeconds} \\)\\); then systemctl poweroff; exit 0; fi\n[^]*/etc/systemd/system/fieldtest-expiry\\.timer[^]*systemctl enable --now fieldtest-expiry\\.timer\n[^]*apt-get -o DPkg::Lock::Timeout=600 update`));
    t.notMatch(userData, /shutdown -h/, "nothing scheduled in /run, which a reboot empties");
  }
});

t.test("the expiry timer fires at the anchored expiry, as systemd reads it", async (t) => {
  const userData: string = instances[0]!.inputs["userData"];
  const calendar = /\nOnCalendar=(.+)\n/.exec(userData)?.[1] ?? "";
  const analyzed = execFileSync("systemd-analyze", ["calendar", calendar], { encoding: "utf8", env: { ...process.env, TZ: "UTC", LC_ALL: "C" } });
  const expected = new Date(expiresAtSeconds * 1000).toISOString().slice(0, 19).replace("T", " ");
  t.match(analyzed, new RegExp(`Next elapse: \\w+ ${expected} UTC`), calendar);
  t.match(userData, /\[Timer\]\nOnCalendar=.*\nAccuracySec=1s\nPersistent=true\n\[Install\]\nWantedBy=timers\.target\n/);
  t.match(userData, /\[Service\]\nType=oneshot\nExecStart=\/usr\/bin\/systemctl poweroff\n/);
});

t.test("instances boot the agent container from the namespace's ECR image", async (t) => {
  for (const instance of instances) {
    t.match(instance.inputs, { instanceType: "t3.medium", ami: "ami-0123456789abcdef0", associatePublicIpAddress: true, keyName: "exp-42-client" });
    const userData: string = instance.inputs["userData"];
    t.match(userData, /install -y --no-install-recommends docker\.io ca-certificates curl awscli/);
    t.match(userData, /aws ecr get-login-password --region eu-west-1 \| docker login --username AWS --password-stdin 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com; } && docker pull /);
    t.match(userData, /123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\/exp-42-images:debian-[0-9a-f]{12}\n/);
    t.match(userData, /docker create --name fieldtest-agent --network host --rm/);
  }
});

t.test("a systemd unit starts the agent container at every boot: cloud-init runs user data at the first one only", async (t) => {
  const userData: string = instances[0]!.inputs["userData"];
  t.match(userData, /\/etc\/systemd\/system\/fieldtest-agent\.service <<'FIELDTEST_UNIT'\n\[Unit\][^]*After=docker\.service\n\[Service\]\nType=oneshot\nRemainAfterExit=yes\nExecStart=\/etc\/fieldtest\/start-agent\n\[Install\]\nWantedBy=multi-user\.target\n/);
  t.match(userData, /systemctl enable fieldtest-agent\.service\nsystemctl restart fieldtest-agent\.service\n$/);
  t.match(userData, /\/etc\/fieldtest\/start-agent <<'FIELDTEST_START_AGENT'\n#!\/bin\/bash\n[^]*docker create --name fieldtest-agent[^]*docker start fieldtest-agent\nFIELDTEST_START_AGENT\n/);
});

t.test("the user data is awsUserData's text, which the VM stand-in test runs", async (t) => {
  const clientKey: string = ofType("aws:ec2/keyPair:KeyPair")[0]!.inputs["publicKey"];
  for (const [i, instance] of instances.entries()) {
    const expected = awsUserData({
      image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/exp-42-images:${imageContentTag({ dir: "dockerfiles", alias: "debian" })}`,
      region: "eu-west-1",
      hostKeyParameter: `/fieldtest/exp-42/node-00${i + 1}/host-key`,
      authorizedKey: clientKey,
      expiresAt: new Date(expiresAtSeconds * 1000),
      registryHost: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    });
    t.equal(instance.inputs["userData"], expected, instance.name);
  }
});

t.test("the AMI is the latest official Debian 12 for x86-64", async (t) => {
  const lookups = invoked.filter((call) => call.token === "aws:ec2/getAmi:getAmi");
  t.equal(lookups.length, 1, "one lookup shared by all agents");
  t.match(lookups[0]?.inputs, {
    owners: ["136693071363"],
    mostRecent: true,
    filters: [
      { name: "name", values: ["debian-12-amd64-*"] },
      { name: "architecture", values: ["x86_64"] },
    ],
  });
});

t.test("the client key opens the agents and the ops door", async (t) => {
  const keyPair = ofType("aws:ec2/keyPair:KeyPair")[0]?.inputs;
  t.match(keyPair, { keyName: "exp-42-client", publicKey: /^ssh-ed25519 \S+$/ });
  for (const instance of instances) {
    const authorizedKeys = `<<'FIELDTEST_AUTHORIZED_KEY'\n${keyPair?.["publicKey"]}\nFIELDTEST_AUTHORIZED_KEY\n`;
    t.ok((instance.inputs["userData"] as string).includes(authorizedKeys), `${instance.name} authorizes the client key`);
  }
  t.equal(await pulumi.isSecret(program.clientPrivateKey), true);
});

t.test("the security group opens sshd to the source ranges, the agents' ports between agents and to the orchestrator", async (t) => {
  const groups = ofType("aws:ec2/securityGroup:SecurityGroup");
  t.equal(groups.length, 1);
  const ingress = (groups[0]?.inputs["ingress"] as Array<Record<string, unknown>>).map(({ protocol, fromPort, toPort, cidrBlocks, self }) => ({
    protocol,
    fromPort,
    toPort,
    cidrBlocks,
    self,
  }));
  t.same(ingress, [
    { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.7/32"], self: undefined },
    { protocol: "tcp", fromPort: 30000, toPort: 30000, cidrBlocks: ["203.0.113.7/32"], self: undefined },
    { protocol: "tcp", fromPort: 30000, toPort: 30099, cidrBlocks: undefined, self: true },
    { protocol: "udp", fromPort: 30000, toPort: 30099, cidrBlocks: undefined, self: true },
    { protocol: "tcp", fromPort: 30000, toPort: 30099, cidrBlocks: ["192.0.2.1/32"], self: undefined },
    { protocol: "udp", fromPort: 30000, toPort: 30099, cidrBlocks: ["192.0.2.1/32"], self: undefined },
  ]);
});

t.test("instances require IMDSv2 with a hop limit of 1", async (t) => {
  for (const instance of instances) t.same(instance.inputs["metadataOptions"], { httpTokens: "required", httpPutResponseHopLimit: 1 }, instance.name);
});

t.test("the agents may pull from the namespace's repository only", async (t) => {
  t.same(ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), [], "no managed policy (AmazonEC2ContainerRegistryReadOnly reads every repository)");
  const policies = ofType("aws:iam/rolePolicy:RolePolicy");
  t.equal(policies.length, 1);
  t.equal(policies[0]?.inputs["role"], "exp-42-agent-eu-west-1");
  t.same(JSON.parse(policies[0]?.inputs["policy"]).Statement, [
    { Sid: "RegistryLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
    {
      Sid: "PullNamespaceImages",
      Effect: "Allow",
      Action: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: "arn:aws:ecr:eu-west-1:123456789012:repository/exp-42-images",
    },
    { Sid: "ReadHostKeys", Effect: "Allow", Action: "ssm:GetParameter", Resource: "arn:aws:ssm:eu-west-1:*:parameter/fieldtest/exp-42/*" },
  ]);
  for (const instance of instances) t.equal(instance.inputs["iamInstanceProfile"], "exp-42-agent-eu-west-1");
  t.match(ofType("aws:ecr/repository:Repository")[0]?.inputs, { name: "exp-42-images", forceDelete: true });
});

t.test("each host key is a SecureString parameter under the namespace's prefix, not in user data", async (t) => {
  const parameters = ofType("aws:ssm/parameter:Parameter");
  t.same(parameters.map((parameter) => [parameter.inputs["name"], parameter.inputs["type"]]), [
    ["/fieldtest/exp-42/node-001/host-key", "SecureString"],
    ["/fieldtest/exp-42/node-002/host-key", "SecureString"],
    ["/fieldtest/exp-42/node-003/host-key", "SecureString"],
  ]);
  for (const parameter of parameters) {
    t.same(parameter.inputs["value"], { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: fakeOpenSshKey(parameter.name).privateKeyOpenssh }, `${parameter.name} holds the host key, as a secret`);
  }
  for (const [i, instance] of instances.entries()) {
    const userData: string = instance.inputs["userData"];
    t.notMatch(userData, /PRIVATE KEY-----/, `${instance.name}: no private key in user data`);
    t.ok(userData.includes(ssmParameterCommand("eu-west-1", `/fieldtest/exp-42/node-00${i + 1}/host-key`)), `${instance.name} reads its own parameter`);
  }
});

t.test("the user data's key loop writes what the parameter holds, and stops the script when it cannot", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "fieldtest-aws-cli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
  writeFileSync(join(dir, "key"), `${key}\n`);
  // A stand-in for the AWS CLI: the key for the expected call, a refusal for any other.
  const expected = "ssm get-parameter --region eu-west-1 --with-decryption --name /fieldtest/exp-42/node-001/host-key --query Parameter.Value --output text";
  writeFileSync(join(dir, "aws"), `#!/bin/bash\n[ "$*" = "${expected}" ] && cat ${join(dir, "key")} || exit 254\n`, { mode: 0o755 });
  const userData: string = instances[0]!.inputs["userData"];
  const lines = userData.split("\n");
  const loop = lines.slice(lines.findIndex((line) => line.startsWith("for attempt")), lines.findIndex((line) => line.startsWith('grep -q "PRIVATE KEY"')) + 1).join("\n");
  const run = (script: string) =>
    execFileSync("bash", ["-c", `set -euo pipefail; sleep() { :; }; ${script.replaceAll("/etc/fieldtest", dir)}; cat ${dir}/ssh_host_ed25519_key`], {
      env: { ...process.env, PATH: `${dir}:${process.env["PATH"]}` },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  t.equal(run(loop), `${key}\n`);
  t.throws(() => run(loop.replace("node-001", "node-009")), "a key that cannot be read stops the script");
});
