// The pure parts of `fieldtest up --cloud` and `reap`: flags → stack config and tags, the plan,
// the --max-vms guard, which stacks have expired, and where the Pulumi CLI is looked for.
import t from "tap";
import { findPulumiCli, missingCliMessage, pulumiCliCandidates } from "../src/targets/pulumi/cli.ts";
import { readStackFileConfig } from "../src/targets/pulumi/stack-file.ts";
import {
  anchorExpiry,
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
} from "../src/targets/pulumi/plan.ts";

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
  dockerfileDirs: ["/home/alice/project/dockerfiles"],
  portsPerAgent: 50,
  maxVms: 10,
  sshSourceRanges: ["203.0.113.7/32"],
  gcp: { project: "my-project", zone: "europe-west1-b" },
};
const newFleet = anchorExpiry(gcp, {}, now);
const expiresAt = newFleet.expiry.expiresAt;

t.test("flags become the stack config the Pulumi program reads", async (t) => {
  const map = stackConfigMap(gcp, expiresAt);
  t.same(Object.keys(map).sort(), [
    "fieldtest:agents",
    "fieldtest:dockerfileDirs",
    "fieldtest:expiresAt",
    "fieldtest:maxVms",
    "fieldtest:owner",
    "fieldtest:portsPerAgent",
    "fieldtest:sshSourceRanges",
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
  t.equal(map["fieldtest:expiresAt"]!.value, "2030-01-01T13:30:00Z", "a new fleet anchors its expiry at now + ttl");
  t.same(JSON.parse(map["fieldtest:sshSourceRanges"]!.value), ["203.0.113.7/32"]);
  t.same(JSON.parse(map["fieldtest:dockerfileDirs"]!.value), ["/home/alice/project/dockerfiles"], "the project's folders of Dockerfiles, searched as on localhost");
  t.notOk("fieldtest:sshSourceRanges" in stackConfigMap({ ...gcp, sshSourceRanges: undefined }, expiresAt), "without the flag, the stack file's ranges stay");
  t.ok(Object.values(map).every((entry) => !entry.secret), "nothing secret is passed as plain config");

  const parsed = checkStackConfig(gcp, () => ["debian"], now, expiresAt);
  t.match(parsed, { target: "gcp", namespace: "alice", ttlSeconds: 5400, portsPerAgent: 50, region: "europe-west1" });
  t.equal(parsed.expiresAt.toISOString(), "2030-01-01T13:30:00.000Z");

  const aws = stackConfigMap({ ...gcp, target: "aws", gcp: undefined, aws: { region: "eu-west-1" } }, expiresAt);
  t.equal(aws["aws:region"]?.value, "eu-west-1");
  t.notOk("gcp:zone" in aws);
});

t.test("a config the program would refuse is refused first, naming the flag", async (t) => {
  t.throws(() => checkStackConfig({ ...gcp, gcp: { project: "p", zone: "europe" } }, () => ["debian"], now, expiresAt), {
    message: "--zone (gcp:zone: must be a zone such as europe-west1-b)",
  });
  t.throws(() => checkStackConfig({ ...gcp, image: "ubuntu" }, () => ["debian"], now, expiresAt), {
    message:
      /^--image or the scenario's image \(fieldtest:agents\[0\]\.image: no ubuntu\.Dockerfile in \/home\/alice\/project\/dockerfiles or fieldtest's dockerfiles\/; known images: debian: add \/home\/alice\/project\/dockerfiles\/ubuntu\.Dockerfile \(it may start FROM fieldtest-agent:debian\)\)/,
  });
  t.throws(() => checkStackConfig({ ...gcp, target: "aws", gcp: undefined }, () => ["debian"], now, expiresAt), { message: /^--region \(aws:region: required for target aws/ });
  t.throws(() => checkStackConfig({ ...gcp, sshSourceRanges: undefined }, () => ["debian"], now, expiresAt), {
    message: /^--ssh-source-range \(fieldtest:sshSourceRanges: required for target gcp, with no world-open default/,
  });
  const fromFile = checkStackConfig({ ...gcp, sshSourceRanges: undefined }, () => ["debian"], now, expiresAt, { "fieldtest:sshSourceRanges": ["192.0.2.0/24"], "fieldtest:openPorts": [{ ports: "30001", sourceRanges: ["192.0.2.9/32"] }] });
  t.match(fromFile, { sshSourceRanges: ["192.0.2.0/24"], openPorts: [{ ports: [30001, 30001] }] }, "the stack file's keys count when no flag sets them");
});

t.test("--group name:count[:type]", async (t) => {
  t.same(parseGroup("node:3:e2-standard-2", "gcp"), { name: "node", count: 3, machineType: "e2-standard-2" });
  t.same(parseGroup("big:1:t3.2xlarge", "aws"), { name: "big", count: 1, machineType: "t3.2xlarge" });
  t.same(parseGroup("node:2", "aws"), { name: "node", count: 2, machineType: "t3.medium" }, "the target's default machine type");
  for (const bad of ["node:0:t3.medium", "Node:1:t3", "node:x:t3", "node:2: ", "node"]) {
    t.throws(() => parseGroup(bad, "gcp"), { message: new RegExp(`^--group "${bad}" is not <name>:<count>\\[:<machine type>\\]`) }, bad);
  }
});

t.test("an up keeps the stack's anchored expiry; only --ttl moves it, and says so", async (t) => {
  const stored = { "fieldtest:expiresAt": "2030-01-01T12:30:00.000Z", "fieldtest:ttl": "1h" };
  const later = new Date("2030-01-01T12:05:00Z");
  const kept = anchorExpiry(gcp, stored, later);
  t.same(kept.expiry, { kind: "kept", expiresAt: new Date("2030-01-01T12:30:00Z") });
  t.match(kept.request, { ttl: "1h", ttlSeconds: 3600 }, "the stack's ttl stays with its expiry");
  t.same(stackConfigMap(kept.request, kept.expiry.expiresAt)["fieldtest:expiresAt"], { value: "2030-01-01T12:30:00Z" });
  t.match(renderPlan(cloudPlan(kept.request, kept.expiry, later)), /\n {2}keeps the stack's expiry, 2030-01-01T12:30:00\.000Z \(25m from now\): --ttl moves it\n/);

  const extended = anchorExpiry({ ...gcp, ttlGiven: true, ttl: "4h", ttlSeconds: 14400 }, stored, later);
  t.same(extended.expiry, { kind: "moved", expiresAt: new Date("2030-01-01T16:05:00Z"), previous: new Date("2030-01-01T12:30:00Z") });
  t.match(
    renderPlan(cloudPlan(extended.request, extended.expiry, later)),
    /\n {2}extends TTL to 2030-01-01T16:05:00\.000Z \(4h from now\), was 2030-01-01T12:30:00\.000Z: every agent is replaced/,
  );
  const shortened = anchorExpiry({ ...gcp, ttlGiven: true, ttl: "10m", ttlSeconds: 600 }, stored, later);
  t.match(renderPlan(cloudPlan(shortened.request, shortened.expiry, later)), /shortens TTL to 2030-01-01T12:15:00\.000Z/);

  const expired = anchorExpiry(gcp, stored, new Date("2030-01-01T13:00:00Z"));
  t.match(expired.expiry, { kind: "renewed", expiresAt: new Date("2030-01-01T14:30:00Z") });
  t.match(renderPlan(cloudPlan(expired.request, expired.expiry, now)), /the stack's expiry 2030-01-01T12:30:00\.000Z has passed \(its VMs are gone\): a new lifetime/);
  t.equal(anchorExpiry(gcp, {}, now).expiry.kind, "new");
});

t.test("the plan shows what is open to where", async (t) => {
  const config = checkStackConfig(gcp, () => ["debian"], now, expiresAt, { "fieldtest:openPorts": [{ ports: "30010-30019", sourceRanges: ["198.51.100.0/24"] }], "fieldtest:orchestratorRanges": ["192.0.2.1/32"] });
  const text = renderPlan(cloudPlan(gcp, newFleet.expiry, now, config));
  t.match(
    text,
    [
      "  reachable (every other port is closed):",
      "    tcp 22, 30000  from 203.0.113.7/32",
      "    tcp 30000-30049 + udp 30000-30049  from the namespace's agents only",
      "    tcp 30000-30049 + udp 30000-30049  from 192.0.2.1/32",
      "    tcp 30010-30019  from 198.51.100.0/24",
      "",
    ].join("\n"),
  );
});

t.test("stack tags carry the namespace, the expiry in unix seconds and the owner", async (t) => {
  t.same(stackTags(gcp, expiresAt), {
    "fieldtest-namespace": "alice",
    "fieldtest-expires-at": String(Date.parse("2030-01-01T13:30:00Z") / 1000),
    "fieldtest-owner": "alice-smith",
  });
});

t.test("the plan says agents × machine type × TTL × target", async (t) => {
  const plan = cloudPlan(gcp, newFleet.expiry, now);
  t.equal(
    renderPlan(plan),
    [
      "plan: namespace alice on gcp (project my-project, zone europe-west1-b)",
      "     3 × e2-standard-2  group node   node-001 … node-003",
      "     1 × e2-standard-4  group baker  baker-001",
      "  4 agent(s) in all (limit --max-vms 10), ttl 1h30m: gone by 2030-01-01T13:30:00.000Z even if nobody destroys them",
      "  expires at 2030-01-01T13:30:00.000Z (1h30m from now), anchored in the stack: a later `up` keeps it, --ttl or `extend` moves it",
      "",
    ].join("\n"),
  );
  t.equal(limitProblem(plan), undefined);
  t.equal(limitProblem({ ...plan, maxVms: 4 }), undefined, "exactly --max-vms agents is allowed");
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

t.test("the stack file's config is read without the Pulumi CLI", async (t) => {
  const dir = t.testdir({
    "Pulumi.alice.yaml": 'config:\n  fieldtest:expiresAt: "2030-01-01T12:30:00Z"\n  fieldtest:sshSourceRanges:\n    - 192.0.2.0/24\n',
    "Pulumi.empty.yaml": "# nothing yet\n",
    "Pulumi.broken.yaml": "config: [unclosed\n",
  });
  t.same(await readStackFileConfig(dir, "alice"), { "fieldtest:expiresAt": "2030-01-01T12:30:00Z", "fieldtest:sshSourceRanges": ["192.0.2.0/24"] });
  t.same(await readStackFileConfig(dir, "empty"), {});
  t.same(await readStackFileConfig(dir, "nobody"), {}, "no stack file: a new stack");
  await t.rejects(readStackFileConfig(dir, "broken"), { message: /^stack file \S*Pulumi\.broken\.yaml is not YAML [^]*: fix it, or remove it/ });
  const kept = anchorExpiry(gcp, await readStackFileConfig(dir, "alice"), now);
  t.equal(kept.expiry.kind, "kept");
});
