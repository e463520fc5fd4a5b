import t from "tap";
import { agentPortRange, parseStackConfig, planAgents, StackConfigError, type StackContext } from "../src/core/stack-config.ts";

const context: StackContext = {
  stackName: "alice",
  now: new Date("2030-01-01T00:00:00Z"),
  defaultOwner: "Alice Smith",
  imageAliases: () => ["debian"],
};

const gcpStack = {
  "fieldtest:target": "gcp",
  "fieldtest:expiresAt": "2030-01-01T02:00:00Z",
  "fieldtest:sshSourceRanges": JSON.stringify(["203.0.113.7/32"]),
  "fieldtest:agents": JSON.stringify([{ name: "node", count: 3 }]),
  "gcp:project": "my-project",
  "gcp:zone": "europe-west1-b",
};

function problemsOf(raw: Record<string, unknown>): string {
  try {
    parseStackConfig(raw, context);
  } catch (error) {
    if (error instanceof StackConfigError) return error.message;
    throw error;
  }
  throw new Error("expected the config to be rejected");
}

t.test("a minimal gcp stack gets the documented defaults", async (t) => {
  const config = parseStackConfig(gcpStack, context);
  t.equal(config.target, "gcp");
  if (config.target !== "gcp") return;
  t.equal(config.namespace, "alice", "namespace defaults to the stack name");
  t.equal(config.owner, "Alice Smith");
  t.equal(config.ttlSeconds, 7200, "ttl defaults to 2h");
  t.equal(config.expiresAt.toISOString(), "2030-01-01T02:00:00.000Z", "the anchored expiry");
  t.equal(config.createdAt.toISOString(), "2030-01-01T00:00:00.000Z", "the expiry minus the ttl");
  t.equal(config.portsPerAgent, 100);
  t.same(config.sshSourceRanges, ["203.0.113.7/32"]);
  t.same(config.orchestratorRanges, []);
  t.same(config.openPorts, []);
  t.equal(config.region, "europe-west1", "region is the zone without its letter");
  t.same(config.agents, [{ name: "node", count: 3, machineType: "e2-standard-2", diskGb: 20, image: "debian" }], "the machine type defaults per target");
});

t.test("the expiry is the anchored value, whatever the clock says", async (t) => {
  const early = parseStackConfig(gcpStack, { ...context, now: new Date("2030-01-01T00:00:00Z") });
  const late = parseStackConfig(gcpStack, { ...context, now: new Date("2030-01-01T01:59:00Z") });
  t.same(late, early);
  t.equal(parseStackConfig({ ...gcpStack, "fieldtest:expiresAt": "1893463200" }, context).expiresAt.toISOString(), "2030-01-01T02:00:00.000Z", "unix seconds");
  t.match(problemsOf({ ...gcpStack, "fieldtest:expiresAt": undefined }), /fieldtest:expiresAt: required, .*pulumi config set fieldtest:expiresAt/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:expiresAt": "tomorrow" }), /fieldtest:expiresAt: "tomorrow" is not a time: write an ISO 8601 time/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:expiresAt": "2029-12-31T23:00:00Z" }), /fieldtest:expiresAt: 2029-12-31T23:00:00\.000Z has passed, .*extend it/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:expiresAt": "2030-03-01T00:00:00Z" }), /is more than 30d away/);
});

t.test("sshd is reachable only from source ranges written on purpose", async (t) => {
  const message = problemsOf({ ...gcpStack, "fieldtest:sshSourceRanges": undefined });
  t.match(message, /fieldtest:sshSourceRanges: required for target gcp, with no world-open default: .*--ssh-source-range 203\.0\.113\.7\/32.*write 0\.0\.0\.0\/0 to open it to the whole internet/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:sshSourceRanges": "[]" }), /fieldtest:sshSourceRanges: is empty: /);
  const world = parseStackConfig({ ...gcpStack, "fieldtest:sshSourceRanges": ["0.0.0.0/0"] }, context);
  t.same(world.target === "gcp" && world.sshSourceRanges, ["0.0.0.0/0"], "the whole internet, when written explicitly");
});

t.test("experiment ports open beyond the namespace only as the stack says", async (t) => {
  const config = parseStackConfig(
    {
      ...gcpStack,
      "fieldtest:orchestratorRanges": ["192.0.2.1/32"],
      "fieldtest:openPorts": JSON.stringify([{ ports: "30001-30010", sourceRanges: ["198.51.100.0/24"] }, { ports: 30050, protocol: "udp", sourceRanges: ["0.0.0.0/0"] }]),
    },
    context,
  );
  t.match(config, {
    orchestratorRanges: ["192.0.2.1/32"],
    openPorts: [
      { ports: [30001, 30010], protocol: "tcp", sourceRanges: ["198.51.100.0/24"] },
      { ports: [30050, 30050], protocol: "udp", sourceRanges: ["0.0.0.0/0"] },
    ],
  });
  t.match(problemsOf({ ...gcpStack, "fieldtest:openPorts": [{ ports: "30000-30005", sourceRanges: ["198.51.100.0/24"] }] }), /fieldtest:openPorts\[0\]\.ports: 30000-30005 is outside the agents' experiment ports 30001-30099/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:openPorts": [{ ports: "30010-30001", sourceRanges: ["198.51.100.0/24"] }] }), /fieldtest:openPorts\[0\]\.ports: "30010-30001" ends before it starts/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:openPorts": [{ ports: "30005", sourceRanges: [] }] }), /fieldtest:openPorts\[0\]\.sourceRanges: must list at least one CIDR/);
});

t.test("values arrive as Pulumi's config text or already decoded", async (t) => {
  const config = parseStackConfig(
    {
      "fieldtest:target": "aws",
      "fieldtest:expiresAt": 1893463200,
      "fieldtest:namespace": "exp-42",
      "fieldtest:ttl": "1h30m",
      "fieldtest:portsPerAgent": "10",
      "fieldtest:maxVms": 20,
      "fieldtest:sshSourceRanges": ["203.0.113.7/32"],
      "fieldtest:agents": [{ name: "big", count: 12, machineType: "t3.large", diskGb: 50 }],
      "aws:region": "eu-west-1",
      "aws:profile": "left-to-the-provider",
    },
    context,
  );
  t.match(config, { target: "aws", namespace: "exp-42", ttlSeconds: 5400, portsPerAgent: 10, region: "eu-west-1", sshSourceRanges: ["203.0.113.7/32"] });
});

t.test("each wrong value is reported with its key", async (t) => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["count", { "fieldtest:agents": [{ name: "node", count: 0, machineType: "e2-small" }] }, /fieldtest:agents\[0\]\.count: /],
    ["group key", { "fieldtest:agents": [{ name: "node", count: 1, machineType: "e2-small", cpus: 2 }] }, /fieldtest:agents\[0\]: .*cpus/],
    ["group name", { "fieldtest:agents": [{ name: "Node_1", count: 1, machineType: "e2-small" }] }, /fieldtest:agents\[0\]\.name: must be lowercase/],
    ["agents JSON", { "fieldtest:agents": "[{" }, /fieldtest:agents: is not a number, list or object/],
    ["ttl", { "fieldtest:ttl": "two hours" }, /fieldtest:ttl: ttl "two hours" is not a duration/],
    ["target", { "fieldtest:target": "azure" }, /fieldtest:target: must be one of gcp, aws, ssh/],
    ["ports", { "fieldtest:portsPerAgent": "40000" }, /fieldtest:portsPerAgent: must leave the port range inside 30000\.\.65535/],
    ["source range", { "fieldtest:sshSourceRanges": ["my laptop"] }, /fieldtest:sshSourceRanges\[0\]: must be an IPv4 CIDR/],
    ["zone", { "gcp:zone": "europe-west1" }, /gcp:zone: must be a zone such as europe-west1-b/],
    ["namespace", { "fieldtest:namespace": "Alice" }, /fieldtest:namespace: namespace must be lowercase/],
    ["unknown key", { "fieldtest:agent": "[]" }, /fieldtest:agent: unknown key; known keys are .*fieldtest:agents/],
    ["image", { "fieldtest:agents": [{ name: "node", count: 1, machineType: "e2-small", image: "alpine" }] }, /fieldtest:agents\[0\]\.image: no dockerfiles\/alpine\.Dockerfile; known images: debian/],
    ["project", { "gcp:project": undefined }, /gcp:project: required for target gcp/],
    ["duplicate group", { "fieldtest:agents": [{ name: "a", count: 1, machineType: "m" }, { name: "a", count: 1, machineType: "m" }] }, /fieldtest:agents\[1\]\.name: "a" is already/],
    ["long group", { "fieldtest:agents": [{ name: "x".repeat(60), count: 1, machineType: "m" }] }, /fieldtest:agents\[0\]\.name: instance names such as alice--x+-001 exceed 63 characters/],
    ["ssh hosts on gcp", { "fieldtest:sshHosts": [{ host: "h" }] }, /fieldtest:sshHosts: only used by target ssh/],
  ];
  for (const [what, change, expected] of cases) {
    t.match(problemsOf({ ...gcpStack, ...change }), expected, what);
  }
});

t.test("a stack name that is not a namespace asks for fieldtest:namespace", async (t) => {
  t.throws(() => parseStackConfig(gcpStack, { ...context, stackName: "Dev_Stack" }), {
    message: /fieldtest:namespace: defaults to the stack name "Dev_Stack", which is invalid: set fieldtest:namespace or rename the stack/,
  });
  const config = parseStackConfig({ ...gcpStack, "fieldtest:namespace": "dev" }, { ...context, stackName: "Dev_Stack" });
  t.equal(config.namespace, "dev");
});

t.test("more agents than fieldtest:maxVms fails with the fix", async (t) => {
  const message = problemsOf({ ...gcpStack, "fieldtest:agents": [{ name: "node", count: 11, machineType: "e2-small" }] });
  t.match(message, /fieldtest:agents: 11 agents exceed fieldtest:maxVms \(10\).*raise fieldtest:maxVms/);
  const raised = parseStackConfig({ ...gcpStack, "fieldtest:maxVms": "11", "fieldtest:agents": [{ name: "node", count: 11, machineType: "e2-small" }] }, context);
  t.equal(raised.target === "gcp" && raised.agents[0]?.count, 11);
});

t.test("a group orchestrator is one VM", async (t) => {
  const message = problemsOf({ ...gcpStack, "fieldtest:agents": [{ name: "node", count: 2 }, { name: "orchestrator", count: 2 }] });
  t.match(message, /fieldtest:agents\[1\]\.count: group orchestrator is the VM that runs detached runs, one at most: set its count to 1/);
  const one = parseStackConfig({ ...gcpStack, "fieldtest:agents": [{ name: "node", count: 2 }, { name: "orchestrator", count: 1 }] }, context);
  t.same(one.target === "gcp" && one.agents.map((g) => [g.name, g.count]), [["node", 2], ["orchestrator", 1]]);
});

t.test("every problem is reported at once", async (t) => {
  const message = problemsOf({ "fieldtest:target": "aws", "fieldtest:ttl": "1y", "fieldtest:maxVms": "0" });
  t.match(message, /fieldtest:ttl: /);
  t.match(message, /fieldtest:maxVms: /);
});

t.test("target-specific requirements", async (t) => {
  t.match(problemsOf({ "fieldtest:target": "aws", "fieldtest:agents": gcpStack["fieldtest:agents"] }), /aws:region: required for target aws/);
  t.same(
    (parseStackConfig({ ...gcpStack, "fieldtest:target": "aws", "gcp:project": undefined, "gcp:zone": undefined, "aws:region": "eu-west-1" }, context) as { agents: unknown }).agents,
    [{ name: "node", count: 3, machineType: "t3.medium", diskGb: 20, image: "debian" }],
    "aws's default machine type",
  );
  t.match(problemsOf({ "fieldtest:target": "aws", "aws:region": "eu-west-1" }), /fieldtest:agents: required/);
  t.match(problemsOf({ "fieldtest:target": "ssh" }), /fieldtest:sshHosts: required for target ssh/);
  t.match(
    problemsOf({ "fieldtest:target": "ssh", "fieldtest:sshHosts": [{ host: "h" }], "fieldtest:agents": gcpStack["fieldtest:agents"] }),
    /fieldtest:agents: not used by target ssh/,
  );
  t.match(problemsOf({ ...gcpStack, "gcp:zone": undefined }), /gcp:zone: required for target gcp/);
  const ssh = parseStackConfig({ "fieldtest:target": "ssh", "fieldtest:expiresAt": "2030-01-01T02:00:00Z", "fieldtest:sshHosts": JSON.stringify([{ host: "10.0.0.5" }]) }, { ...context, homeDir: "/home/ops" });
  t.match(ssh, {
    target: "ssh",
    sshHosts: [{ host: "10.0.0.5", port: 22, user: "root" }],
    image: "debian",
    portsPerAgent: 100,
    sshKnownHosts: "/home/ops/.ssh/known_hosts",
    sshPrivateKey: { path: "/home/ops/.ssh/id_ed25519" },
  });
  const sshStack = { "fieldtest:target": "ssh", "fieldtest:expiresAt": "2030-01-01T02:00:00Z", "fieldtest:sshHosts": [{ host: "h" }] };
  t.match(problemsOf({ ...sshStack, "fieldtest:sshSourceRanges": ["0.0.0.0/0"] }), /fieldtest:sshSourceRanges: not used by target ssh/);
  t.match(problemsOf({ ...sshStack, "fieldtest:sshKeyPath": "k", "fieldtest:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----" }), /fieldtest:sshKeyPath: set either/);
  t.match(problemsOf({ ...sshStack, "fieldtest:sshPrivateKey": "hunter2" }), /fieldtest:sshPrivateKey: must be an OpenSSH private key/);
  t.match(problemsOf({ ...sshStack, "fieldtest:sshHosts": [{ host: "h", hostKey: "nope" }] }), /fieldtest:sshHosts\[0\]\.hostKey: /);
  t.match(problemsOf({ ...sshStack, "fieldtest:maxVms": 1, "fieldtest:sshHosts": [{ host: "a" }, { host: "b" }] }), /fieldtest:sshHosts: 2 agents exceed fieldtest:maxVms \(1\)/);
  t.match(problemsOf({ ...sshStack, "fieldtest:image": "alpine" }), /fieldtest:image: no dockerfiles\/alpine\.Dockerfile/);
  t.match(problemsOf({ ...sshStack, "fieldtest:sshHosts": [{ host: "a" }, { host: "b" }, { host: "a", user: "ops" }] }), /fieldtest:sshHosts\[2\]: a:22 is listed twice/);
  t.match(problemsOf({ ...gcpStack, "fieldtest:sshKeyPath": "k" }), /fieldtest:sshKeyPath: only used by target ssh/);
});

t.test("agent names follow src/core/naming.ts; instances add the namespace", async (t) => {
  t.same(agentPortRange(100), [30000, 30099]);
  const plans = planAgents(
    [
      { name: "a", count: 2, machineType: "m1", diskGb: 10, image: "debian" },
      { name: "b", count: 1, machineType: "m2", diskGb: 30, image: "debian" },
    ],
    "ns",
  );
  t.same(
    plans.map((plan) => [plan.name, plan.resourceName, plan.group, plan.machineType, plan.diskGb]),
    [
      ["a-001", "ns--a-001", "a", "m1", 10],
      ["a-002", "ns--a-002", "a", "m1", 10],
      ["b-001", "ns--b-001", "b", "m2", 30],
    ],
  );
});
