// The pure parts of `fieldtest up --cloud` and `reap`: flags → stack config and tags, the plan,
// the --max-vms guard, which stacks have expired, and where the Pulumi CLI is looked for.
import t from "tap";
import { findPulumiCli, missingCliMessage, pulumiCliCandidates } from "../src/pulumi/cli.ts";
import {
  checkStackConfig,
  cloudPlan,
  containerPlan,
  expiredStacks,
  limitProblem,
  parseGroup,
  renderPlan,
  stackConfigMap,
  stackTags,
  type CloudFleetRequest,
  type StackSummary,
} from "../src/pulumi/plan.ts";

const now = new Date("2030-01-01T12:00:00Z");
const gcp: CloudFleetRequest = {
  target: "gcp",
  namespace: "alice",
  owner: "Alice Smith",
  ttl: "90m",
  ttlSeconds: 5400,
  groups: [
    { name: "node", count: 3, machineType: "e2-standard-2" },
    { name: "baker", count: 1, machineType: "e2-standard-4" },
  ],
  image: "debian",
  portsPerAgent: 50,
  maxVms: 10,
  gcp: { project: "my-project", zone: "europe-west1-b" },
};

t.test("flags become the stack config the Pulumi program reads", async (t) => {
  const map = stackConfigMap(gcp);
  t.same(Object.keys(map).sort(), [
    "fieldtest:agents",
    "fieldtest:maxVms",
    "fieldtest:owner",
    "fieldtest:portsPerAgent",
    "fieldtest:target",
    "fieldtest:ttl",
    "gcp:project",
    "gcp:zone",
  ]);
  t.same(JSON.parse(map["fieldtest:agents"]!.value), [
    { name: "node", count: 3, machineType: "e2-standard-2", image: "debian" },
    { name: "baker", count: 1, machineType: "e2-standard-4", image: "debian" },
  ]);
  t.equal(map["fieldtest:ttl"]!.value, "90m");
  t.ok(Object.values(map).every((entry) => !entry.secret), "nothing secret is passed as plain config");

  const parsed = checkStackConfig(gcp, ["debian"], now);
  t.match(parsed, { target: "gcp", namespace: "alice", ttlSeconds: 5400, portsPerAgent: 50, region: "europe-west1" });
  t.equal(parsed.expiresAt.toISOString(), "2030-01-01T13:30:00.000Z");

  const aws = stackConfigMap({ ...gcp, target: "aws", gcp: undefined, aws: { region: "eu-west-1" } });
  t.equal(aws["aws:region"]?.value, "eu-west-1");
  t.notOk("gcp:zone" in aws);
});

t.test("a config the program would refuse is refused first, naming the flag", async (t) => {
  t.throws(() => checkStackConfig({ ...gcp, gcp: { project: "p", zone: "europe" } }, ["debian"], now), {
    message: "--zone (gcp:zone: must be a zone such as europe-west1-b)",
  });
  t.throws(() => checkStackConfig({ ...gcp, image: "ubuntu" }, ["debian"], now), {
    message: /^--vms\/--machine-type\/--group \(fieldtest:agents\[0\]\.image: no dockerfiles\/ubuntu\.Dockerfile; known images: debian\)/,
  });
  t.throws(() => checkStackConfig({ ...gcp, target: "aws", gcp: undefined }, ["debian"], now), { message: /^--region \(aws:region: required for target aws/ });
});

t.test("--group name:count:type", async (t) => {
  t.same(parseGroup("node:3:e2-standard-2"), { name: "node", count: 3, machineType: "e2-standard-2" });
  t.same(parseGroup("big:1:t3.2xlarge"), { name: "big", count: 1, machineType: "t3.2xlarge" });
  for (const bad of ["node:0:t3.medium", "Node:1:t3", "node:x:t3", "node:2", "node:2: "]) {
    t.throws(() => parseGroup(bad), { message: new RegExp(`^--group "${bad}" is not <name>:<count>:<machine type>`) }, bad);
  }
});

t.test("stack tags carry the namespace, the expiry in unix seconds and the owner", async (t) => {
  t.same(stackTags(gcp, now), {
    "fieldtest-namespace": "alice",
    "fieldtest-expires-at": String(Date.parse("2030-01-01T13:30:00Z") / 1000),
    "fieldtest-owner": "alice-smith",
  });
});

t.test("the plan says agents × machine type × TTL × target", async (t) => {
  const plan = cloudPlan(gcp, now);
  t.equal(
    renderPlan(plan),
    [
      "plan: namespace alice on gcp (project my-project, zone europe-west1-b)",
      "     3 × e2-standard-2  group node   alice-node-000 … alice-node-002",
      "     1 × e2-standard-4  group baker  alice-baker-000",
      "  4 agent(s) in all (limit --max-vms 10), ttl 1h30m: gone by 2030-01-01T13:30:00.000Z even if nobody destroys them",
      "",
    ].join("\n"),
  );
  t.equal(limitProblem(plan), undefined);
  t.equal(
    limitProblem({ ...plan, maxVms: 3 }),
    "4 agents exceed --max-vms 3, the guard against costly typos: lower --vms or --group counts, or raise --max-vms to 4 if you mean it. Nothing was created",
  );
  const local = containerPlan({ namespace: "bob", groups: [{ name: "agent", count: 12, image: "debian" }], ttlSeconds: 600 }, "localhost", "this machine's Docker engine", { maxVms: 10 }, now);
  t.match(renderPlan(local), /^plan: namespace bob on localhost \(this machine's Docker engine\)\n {4}12 × container \(image debian\)  group agent  agent-001 … agent-012\n/);
  t.match(limitProblem(local), /^12 agents exceed --max-vms 10/);
});

t.test("reap picks the fieldtest stacks whose expiry tag has passed", async (t) => {
  const at = (iso: string) => String(Date.parse(iso) / 1000);
  const stacks: StackSummary[] = [
    { name: "old", tags: { "fieldtest-namespace": "old", "fieldtest-expires-at": at("2030-01-01T11:59:59Z") } },
    { name: "edge", tags: { "fieldtest-namespace": "edge", "fieldtest-expires-at": at("2030-01-01T12:00:00Z") } },
    { name: "young", tags: { "fieldtest-namespace": "young", "fieldtest-expires-at": at("2030-01-01T12:00:01Z") } },
    { name: "no-expiry", tags: { "fieldtest-namespace": "no-expiry" } },
    { name: "garbled", tags: { "fieldtest-namespace": "garbled", "fieldtest-expires-at": "soon" } },
    { name: "not-ours", tags: { "fieldtest-expires-at": at("2000-01-01T00:00:00Z") } },
  ];
  t.same(
    expiredStacks(stacks, now).map((stack) => stack.name),
    ["old", "edge"],
  );
});

t.test("the Pulumi CLI is looked for on PATH, then where its installer puts it", async (t) => {
  t.same(pulumiCliCandidates({ PATH: "/a:/b", PULUMI_HOME: "/opt/pulumi", HOME: "/home/u" }), [
    "/a/pulumi",
    "/b/pulumi",
    "/opt/pulumi/bin/pulumi",
    "/home/u/.pulumi/bin/pulumi",
  ]);
  t.equal(findPulumiCli({ PATH: "/nonexistent", HOME: "/nonexistent" }), undefined);
  const message = missingCliMessage("`up --cloud gcp`");
  t.match(message, /^`up --cloud gcp` needs the Pulumi CLI, which is not installed/);
  t.match(message, /https:\/\/www\.pulumi\.com\/docs\/install\//);
  t.match(message, /curl -fsSL https:\/\/get\.pulumi\.com \| sh/);
  t.match(message, /Nothing was created\.$/);
});
