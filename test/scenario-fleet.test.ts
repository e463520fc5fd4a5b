// Pure: a scenario's parameters and groups, their overrides, the shape → machine type tables,
// and the plans and guards computed from them for every target.
import t from "tap";
import { z } from "zod";
import { DEFAULT_INSTANCE_TYPES, machineTypeFor } from "../src/core/shapes.ts";
import { cloudPlan, containerPlan, expiryChange, limitProblem, renderPlan, replacementWarning, type CloudFleetRequest } from "../src/targets/pulumi/plan.ts";
import { defineScenario } from "../src/scenario/scenario.ts";
import { agentNamesOf, FleetError, parseGroupCount, scenarioGroups } from "../src/scenario/scenario-fleet.ts";
import { describeParams, ParamsError, parseScenarioParams } from "../src/scenario/scenario-params.ts";
import { cloudGroups } from "../src/cli/scenario-options.ts";

const now = new Date("2030-01-01T12:00:00Z");

const cluster = defineScenario({
  name: "su-cluster",
  params: z.object({
    units: z.number().int().min(1).max(8).default(2).describe("scheduler units"),
    mode: z.enum(["fast", "safe"]).default("safe"),
    verbose: z.boolean().default(false),
    label: z.string().optional(),
  }),
  fleet: (p) => ({
    router: { count: 1, image: "su" },
    unit: { count: p.units, image: "su", shape: { cores: 2, ramGb: 4 } },
    db: { count: 1, image: "pg", shape: { cores: 4, ramGb: 16, diskGb: 50 }, machineType: { aws: "r5.large" } },
  }),
  run() {},
});

t.test("--param values are read by the schema's types, defaults fill the rest", async (t) => {
  t.same(parseScenarioParams(cluster, { pairs: ["units=3", "verbose=true", "label=42"] }), { units: 3, mode: "safe", verbose: true, label: "42" });
  t.same(parseScenarioParams(cluster, { values: { units: 5 }, pairs: ["units=4"] }), { units: 4, mode: "safe", verbose: false }, "--param wins over --params");
  t.same(parseScenarioParams(defineScenario({ name: "x", run() {} })), {}, "a scenario without params gets {}");
});

t.test("a bad parameter names itself and the rule it broke", async (t) => {
  t.throws(() => parseScenarioParams(cluster, { pairs: ["units=0"] }), new ParamsError("bad parameters for scenario su-cluster:\n  parameter units = 0: Too small: expected number to be >=1"));
  t.throws(() => parseScenarioParams(cluster, { pairs: ["units=many"] }), /parameter units = "many": Invalid input: expected number, received string/);
  t.throws(() => parseScenarioParams(cluster, { pairs: ["mode=quick"] }), /parameter mode = "quick": Invalid option: expected one of "fast"\|"safe"/);
  t.throws(() => parseScenarioParams(cluster, { pairs: ["nodes=3"] }), /--param nodes: scenario su-cluster has no parameter "nodes"; its parameters are units, mode, verbose, label/);
  t.throws(() => parseScenarioParams(cluster, { values: { nodes: 3 }, valuesSource: "--params p.json" }), /--params p\.json nodes: scenario su-cluster has no parameter "nodes"/);
  t.throws(() => parseScenarioParams(cluster, { pairs: ["units"] }), /--param "units" is not name=value/);
});

t.test("describe reads types, defaults, rules and docs from the schema", async (t) => {
  t.same(describeParams(cluster)[0], { name: "units", type: "integer", required: false, default: 2, description: "scheduler units", rules: ["≥ 1", "≤ 8"] });
  t.same(describeParams(cluster)[1]?.rules, ['one of "fast", "safe"']);
});

t.test("groups come from the fleet, computed from the parameters, with --group and --vms overrides", async (t) => {
  const groups = scenarioGroups(cluster, parseScenarioParams(cluster, { pairs: ["units=3"] }), { counts: { router: 2 } });
  t.same(
    groups.map((g) => [g.name, g.count, g.image]),
    [
      ["router", 2, "su"],
      ["unit", 3, "su"],
      ["db", 1, "pg"],
    ],
  );
  t.same(agentNamesOf(groups), ["router-001", "router-002", "unit-001", "unit-002", "unit-003", "db-001"]);
  t.throws(() => scenarioGroups(cluster, { units: 2 }, { vms: 3 }), new FleetError("--vms: scenario su-cluster has 3 groups (router, unit, db): set their sizes with --group <group>=<count>, e.g. --group router=3"));
  t.throws(() => scenarioGroups(cluster, { units: 2 }, { counts: { units: 3 } }), /--group units: scenario su-cluster has no group "units"; its groups are router, unit, db/);
  t.throws(() => parseGroupCount("unit:5"), /--group "unit:5" is not <group>=<count>/);

  const single = defineScenario({ name: "one", vms: 2, run() {} });
  t.same(scenarioGroups(single, {}, {}), [{ name: "agent", count: 2, image: "debian" }], "agents/vms make one group named agent");
  t.same(scenarioGroups(single, {}, { vms: 5, image: "mine" }), [{ name: "agent", count: 5, image: "mine" }], "--vms and --image still work");
  const bad = defineScenario({ name: "bad", params: z.object({ n: z.number().default(0) }), fleet: (p) => ({ unit: { count: p.n } }), run() {} });
  t.throws(() => scenarioGroups(bad, { n: 0 }), /its fleet is not valid with these parameters:\nfleet\.unit\.count: must be at least 1/);
  t.throws(() => defineScenario({ name: "x", vms: 2, fleet: { a: { count: 1 } }, run() {} }), /defineScenario: fleet: give fleet or agents\/vms, not both/, "fleet and vms exclude each other");
  t.throws(() => defineScenario({ name: "x", fleet: { orchestrator: { count: 1 } }, run() {} }), /group name orchestrator is kept for the agent that runs detached runs/, "a scenario cannot declare the orchestrator's group");
});

t.test("an image is an alias of a Dockerfile, or a published reference", async (t) => {
  const { isPublishedImage } = await import("../src/core/images.ts");
  t.same(["ghcr.io/org/node:1.2", "redis:7", "127.0.0.1:5000/a/b", "debian", "../etc", "Foo/bar"].map(isPublishedImage), [true, true, true, false, false, false]);
  t.throws(() => scenarioGroups(defineScenario({ name: "x", run() {} }), {}, { image: "../etc" }), /--image "\.\.\/etc" must name dockerfiles\/<image>\.Dockerfile/);
});

t.test("a shape becomes the smallest machine type that fits, per cloud, unless the group names one", async (t) => {
  t.equal(machineTypeFor("gcp", { cores: 2, ramGb: 4 }).machineType, "e2-medium");
  t.equal(machineTypeFor("aws", { cores: 2, ramGb: 4 }).machineType, "t3.medium");
  t.equal(machineTypeFor("gcp", { cores: 3, ramGb: 1 }).machineType, "e2-standard-4");
  t.equal(machineTypeFor("aws", { cores: 2, ramGb: 4 }, [{ cores: 4, ramGb: 8, machineType: "c5.xlarge" }, { cores: 2, ramGb: 4, machineType: "c5.large" }]).machineType, "c5.large", "a stack's own table");
  t.throws(() => machineTypeFor("gcp", { cores: 64, ramGb: 8 }), /^no gcp machine type fits 64 cores, 8 GB; the table holds e2-small \(2 cores, 2 GB\), /);
  t.equal(DEFAULT_INSTANCE_TYPES.gcp.length, DEFAULT_INSTANCE_TYPES.aws.length);
});

t.test("the same scenario planned for GCP, AWS and localhost: machine types per group, the same agent names", async (t) => {
  const groups = scenarioGroups(cluster, { units: 2 });
  const request = (target: "gcp" | "aws"): CloudFleetRequest => ({
    target,
    namespace: "carol",
    owner: "carol",
    ttl: "1h",
    ttlSeconds: 3600,
    groups: cloudGroups(groups, target),
    image: "debian",
    dockerfileDirs: [],
    portsPerAgent: 100,
    maxVms: 10,
    ...(target === "gcp" ? { gcp: { project: "p", zone: "europe-west1-b" } } : { aws: { region: "eu-west-1" } }),
  });
  const gcp = cloudPlan(request("gcp"), expiryChange(undefined, 3600, false, now), now);
  const aws = cloudPlan(request("aws"), expiryChange(undefined, 3600, false, now), now);
  t.same(gcp.groups.map((g) => [g.name, g.count, g.machineType]), [["router", 1, "e2-standard-2"], ["unit", 2, "e2-medium"], ["db", 1, "e2-standard-4"]]);
  t.same(aws.groups.map((g) => [g.name, g.count, g.machineType]), [["router", 1, "t3.medium"], ["unit", 2, "t3.medium"], ["db", 1, "r5.large"]], "an explicit machine type wins over the shape");
  t.same(request("gcp").groups.map((g) => g.image), ["su", "su", "pg"], "each group keeps its image");
  const local = containerPlan({ namespace: "carol", groups, ttlSeconds: 3600 }, "localhost", "this machine's Docker engine", { maxVms: 10 }, now);
  t.same(local.groups.map((g) => [g.firstAgent, g.lastAgent]), [["router-001", "router-001"], ["unit-001", "unit-002"], ["db-001", "db-001"]]);
  t.same(agentNamesOf(request("gcp").groups), agentNamesOf(request("aws").groups), "agent names do not depend on the cloud");
  t.same(agentNamesOf(request("gcp").groups), agentNamesOf(groups));
});

t.test("only a moved expiry of a live stack replaces its VMs, and so asks for --replace-vms", async (t) => {
  const previous = new Date(now.getTime() + 3600_000);
  t.equal(replacementWarning(expiryChange(undefined, 3600, true, now), "ann"), undefined, "a new stack");
  t.equal(replacementWarning(expiryChange(previous, 7200, false, now), "ann"), undefined, "--ttl left out: the expiry is kept");
  t.equal(replacementWarning(expiryChange(new Date(now.getTime() - 1000), 7200, true, now), "ann"), undefined, "an expiry that has passed: its VMs are gone");
  t.match(replacementWarning(expiryChange(previous, 7200, true, now), "ann"), /namespace ann, a Pulumi stack, replaces every one of its VMs .*a detached run included/);
});

t.test("guards: a plan over --max-cores or --max-ram-gb is refused, naming the groups that add up", async (t) => {
  const groups = scenarioGroups(cluster, { units: 3 });
  const plan = (limits: { maxVms: number; maxCores?: number; maxRamGb?: number }) => containerPlan({ namespace: "bob", groups, ttlSeconds: 600 }, "localhost", "here", limits, now);
  t.equal(limitProblem(plan({ maxVms: 10, maxCores: 10, maxRamGb: 28 })), undefined, "10 cores and 28 GB fit exactly");
  t.equal(
    limitProblem(plan({ maxVms: 10, maxCores: 8 })),
    "10 cores exceed --max-cores 8: unit 3 × 2 + db 1 × 4; shrink the groups or their shapes, or raise --max-cores to 10. Nothing was created",
  );
  t.match(limitProblem(plan({ maxVms: 10, maxRamGb: 20 })), /^28 GB of RAM exceed --max-ram-gb 20: unit 3 × 4 \+ db 1 × 16/);
  t.match(limitProblem(plan({ maxVms: 4 })), /^5 agents exceed --max-vms 4/);
  t.match(
    renderPlan(plan({ maxVms: 10, maxCores: 8 })),
    /\n {5}3 × 2 cores, 4 GB → container \(image su, limits 2 cores, 4 GB\)\s+group unit\s+unit-001 … unit-003\n[\s\S]*5 agent\(s\), 10 cores, 28 GB \(and 1 agent\(s\) of no declared size\) in all \(limits --max-vms 10, --max-cores 8\)/,
  );
});

t.test("a stack file's fieldtest:instanceTypes replaces the table, and the Pulumi program accepts the key", async (t) => {
  const { mkdtemp, mkdir, writeFile, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { stackInstanceTypes } = await import("../src/cli/stack-file.ts");
  const { parseStackConfig } = await import("../src/core/stack-config.ts");
  const project = await mkdtemp(join(tmpdir(), "fieldtest-stack-"));
  t.teardown(() => rm(project, { recursive: true, force: true }));
  await mkdir(join(project, "stacks"));
  const table = [{ cores: 2, ramGb: 4, machineType: "c3-standard-2" }];
  await writeFile(join(project, "stacks", "Pulumi.carol.yaml"), `config:\n  fieldtest:instanceTypes:\n    - { cores: 2, ramGb: 4, machineType: c3-standard-2 }\n`);
  t.same(await stackInstanceTypes({ env: {}, packageRoot: project }, "carol"), table);
  t.equal(await stackInstanceTypes({ env: {}, packageRoot: project }, "nobody"), undefined, "no stack file: the built-in table");
  t.same(cloudGroups(scenarioGroups(cluster, { units: 1 }).filter((g) => g.name === "unit"), "gcp", table).map((g) => g.machineType), ["c3-standard-2"]);
  await writeFile(join(project, "stacks", "Pulumi.bad.yaml"), `config:\n  fieldtest:instanceTypes:\n    - { cores: 2 }\n`);
  await t.rejects(stackInstanceTypes({ env: {}, packageRoot: project }, "bad"), /Pulumi\.bad\.yaml: fieldtest:instanceTypes must list \[\{cores, ramGb, machineType\}, …\]/);
  const config = parseStackConfig(
    {
      "fieldtest:target": "gcp",
      "fieldtest:agents": [{ name: "unit", count: 1, machineType: "c3-standard-2" }],
      "fieldtest:instanceTypes": table,
      "fieldtest:expiresAt": new Date(now.getTime() + 3600_000).toISOString(),
      "fieldtest:sshSourceRanges": ["203.0.113.7/32"],
      "gcp:project": "p",
      "gcp:zone": "europe-west1-b",
    },
    { stackName: "carol", now, defaultOwner: "carol", imageAliases: () => ["debian"] },
  );
  t.equal(config.target, "gcp");
});

t.test("on several SSH hosts each group is spread in turn, numbered on across hosts", async (t) => {
  const { groupsPerHost } = await import("../src/targets/ssh-hosts/fleet.ts");
  const shape = { cores: 1, ramGb: 1 };
  const perHost = groupsPerHost(
    [
      { name: "router", count: 1, image: "su" },
      { name: "unit", count: 3, image: "su", shape },
    ],
    2,
  );
  t.same(perHost, [
    [
      { name: "router", count: 1, image: "su", firstIndex: 0 },
      { name: "unit", count: 2, image: "su", shape, firstIndex: 0 },
    ],
    [{ name: "unit", count: 1, image: "su", shape, firstIndex: 2 }],
  ]);
  const names = perHost.flatMap((groups) => groups.flatMap((g) => Array.from({ length: g.count }, (_, i) => `${g.name}-${String((g.firstIndex ?? 0) + i + 1).padStart(3, "0")}`)));
  t.same(names.sort(), ["router-001", "unit-001", "unit-002", "unit-003"], "the same names as on one engine");
});
