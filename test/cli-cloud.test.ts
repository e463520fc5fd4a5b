// `up --cloud`, the --max-vms guard and `reap` on a machine without the Pulumi CLI, which is
// every machine this project is tested on: the CLI runs with a PATH and HOME that hold no `pulumi`.
import { randomBytes } from "node:crypto";
import { access, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { listFieldtestContainers } from "../src/targets/docker-engine/provisioner.ts";
import { LABELS } from "../src/core/namespace.ts";
import { findPulumiCli } from "../src/targets/pulumi/cli.ts";
import { cleanupNamespace, requireDocker, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const home = await tempHome(t);
const owner = `cloud-${randomBytes(4).toString("hex")}`;
const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "", FIELDTEST_OWNER: owner, PATH: "/usr/bin:/bin", HOME: home, PULUMI_HOME: join(home, "no-pulumi") };
if (findPulumiCli(env)) throw new Error("this test needs a PATH without the Pulumi CLI");
const gcpFlags = ["--cloud", "gcp", "--project", "my-project", "--zone", "europe-west1-b", "--ssh-source-range", "203.0.113.7/32"];
const stateDir = (namespace: string) => join(home, "namespaces", namespace);
const exists = (path: string) => access(path).then(() => true, () => false);

t.test("up --cloud without the Pulumi CLI says so, how to install it, and creates nothing", async (t) => {
  const namespace = uniqueNamespace("cloud");
  const up = await runCli(["up", ...gcpFlags, "--namespace", namespace, "--vms", "2", "--ttl", "30m"], env);
  t.equal(up.code, 1, up.stderr);
  t.match(up.stderr, new RegExp(`^plan: namespace ${namespace} on gcp \\(project my-project, zone europe-west1-b\\)\\n {5}2 × e2-standard-2`), "the plan comes first");
  t.match(up.stderr, /fieldtest: `up --cloud gcp` needs the Pulumi CLI, which is not installed: there is no `pulumi` on PATH/);
  t.match(up.stderr, /https:\/\/www\.pulumi\.com\/docs\/install\/\):\n {2}curl -fsSL https:\/\/get\.pulumi\.com \| sh\n/);
  t.match(up.stderr, /Nothing was created\.\n$/);
  t.equal(up.stdout, "");
  t.equal(await exists(stateDir(namespace)), false, "no state directory for the namespace");
});

t.test("up --dry-run prints the plan and needs no Pulumi CLI", async (t) => {
  const namespace = uniqueNamespace("cloud");
  const up = await runCli(["up", "--cloud", "aws", "--region", "eu-west-1", "--ssh-source-range", "203.0.113.7/32", "--namespace", namespace, "--group", "node:3:t3.medium", "--group", "big:1:t3.xlarge", "--dry-run"], env);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stderr, / {5}3 × t3\.medium  group node  .*\n {5}1 × t3\.xlarge  group big {3}.*\n {2}4 agent\(s\) in all \(limit --max-vms 10\), ttl 2h/);
  t.match(up.stderr, /\n {2}expires at \S+ \(2h from now\), anchored in the stack/);
  t.match(up.stderr, /\n {2}reachable \(every other port is closed\):\n {4}tcp 22, 30000  from 203\.0\.113\.7\/32\n {4}tcp 30000-30099 \+ udp 30000-30099  from the namespace's agents only\n/);
  t.match(up.stderr, /dry run: nothing was created/);
  t.equal(await exists(stateDir(namespace)), false);
});

const refusals: Array<[string, string[], RegExp]> = [
  ["cloud above --max-vms", ["up", ...gcpFlags, "--vms", "11"], /11 agents exceed --max-vms 10, .*raise --max-vms to 11 if you mean it/],
  ["cloud above a lowered --max-vms", ["up", ...gcpFlags, "--group", "a:2:e2-small", "--group", "b:2:e2-small", "--max-vms", "3"], /4 agents exceed --max-vms 3/],
  ["localhost above --max-vms", ["up", "--localhost", "--vms", "12"], /12 agents exceed --max-vms 10/],
  ["unknown cloud", ["up", "--cloud", "azure"], /--cloud "azure" must be one of gcp, aws/],
  ["gcp without a project", ["up", "--cloud", "gcp", "--zone", "europe-west1-b"], /--cloud gcp needs --project/],
  ["aws without a region", ["up", "--cloud", "aws"], /--cloud aws needs --region/],
  ["a zone that is none", ["up", ...gcpFlags.slice(0, 4), "--zone", "europe", "--ssh-source-range", "203.0.113.7/32"], /--zone \(gcp:zone: must be a zone such as europe-west1-b\)/],
  ["cloud without source ranges", ["up", ...gcpFlags.slice(0, 6), "--vms", "1"], /--ssh-source-range \(fieldtest:sshSourceRanges: required for target gcp, with no world-open default/],
  ["source range that is none", ["up", ...gcpFlags.slice(0, 6), "--ssh-source-range", "my laptop"], /--ssh-source-range \(fieldtest:sshSourceRanges\[0\]: must be an IPv4 CIDR/],
  ["source range without --cloud", ["up", "--localhost", "--ssh-source-range", "203.0.113.7/32"], /--ssh-source-range only applies with --cloud/],
  ["--group with --vms", ["up", ...gcpFlags, "--vms", "2", "--group", "a:1:e2-small"], /--group and --vms\/--machine-type exclude each other/],
  ["bad --group", ["up", ...gcpFlags, "--group", "a:many:e2-small"], /--group "a:many:e2-small" is not <name>:<count>\[:<machine type>\]/],
  ["two targets", ["up", "--localhost", "--cloud", "gcp"], /--localhost, --ssh-host and --cloud exclude each other/],
  ["cloud flag without --cloud", ["up", "--localhost", "--machine-type", "e2-small"], /--machine-type only applies with --cloud/],
  ["bad --max-vms", ["up", ...gcpFlags, "--max-vms", "0"], /--max-vms "0" must be a whole number of at least 1/],
];

for (const [title, args, message] of refusals) {
  t.test(`${title}: exit 2, nothing created`, async (t) => {
    const namespace = uniqueNamespace("cloud");
    const result = await runCli([...args, "--namespace", namespace], env);
    t.equal(result.code, 2, result.stderr);
    t.match(result.stderr, message);
    t.equal(await exists(stateDir(namespace)), false, "no state directory");
  });
}

t.test("a namespace that is a Pulumi stack is read and destroyed through the CLI, and says so when it is missing", async (t) => {
  const namespace = uniqueNamespace("stack");
  // What `up --cloud` records before its `pulumi up`.
  await mkdir(stateDir(namespace), { recursive: true });
  const record = join(stateDir(namespace), "pulumi-stack.json");
  await writeFile(record, JSON.stringify({ target: "pulumi", cloud: "gcp", stack: namespace, projectDir: join(home, "project") }));
  const cases: Array<[string[], RegExp]> = [
    [["run", "health", "--namespace", namespace], new RegExp(`namespace ${namespace}, a Pulumi stack, needs the Pulumi CLI[^]*Nothing was read or changed\\.\\n$`)],
    [["inventory", "--namespace", namespace], /a Pulumi stack, needs the Pulumi CLI[^]*Nothing was read or changed\.\n$/],
    [["destroy", "--namespace", namespace], new RegExp(`destroying namespace ${namespace}, a Pulumi stack, needs the Pulumi CLI[^]*Nothing was removed\\.\\n$`)],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args, env);
    t.equal(result.code, 1, args.join(" "));
    t.match(result.stderr, message, args.join(" "));
  }
  // extend would replace every VM: refused without --replace-vms, before the stack is read.
  const extend = await runCli(["extend", "--namespace", namespace, "--ttl", "3h"], env);
  t.equal(extend.code, 2, extend.stderr);
  t.match(extend.stderr, new RegExp(`namespace ${namespace}, a Pulumi stack, replaces every one of its VMs[^]*Give --replace-vms to go ahead[^]*Nothing was changed\\.\\n$`));
  const agreed = await runCli(["extend", "--namespace", namespace, "--ttl", "3h", "--replace-vms"], env);
  t.equal(agreed.code, 1, agreed.stderr);
  t.match(agreed.stderr, new RegExp(`extending namespace ${namespace}, a Pulumi stack, needs the Pulumi CLI[^]*Nothing was changed\\.\\n$`), "with --replace-vms it goes on to the stack");
  for (const args of [["up", "--localhost"], ["run", "health", "--localhost"]]) {
    const local = await runCli([...args, "--namespace", namespace], env);
    t.equal(local.code, 2, args.join(" "));
    t.match(local.stderr, new RegExp(`namespace ${namespace} is a Pulumi stack: \`fieldtest destroy --namespace ${namespace}\` first`), args.join(" "));
    t.equal(await exists(record), true, `${args.join(" ")}: the record stays until the stack is destroyed`);
  }
});

const docker = await requireDocker(t);
if (docker) {
  t.test("list shows a recorded stack namespace without running Pulumi", async (t) => {
    const namespace = uniqueNamespace("listed");
    await mkdir(stateDir(namespace), { recursive: true });
    await writeFile(join(stateDir(namespace), "pulumi-stack.json"), JSON.stringify({ target: "pulumi", cloud: "aws", stack: namespace, projectDir: join(home, "project") }));
    const json = await runCli(["list", "--json"], env);
    t.equal(json.code, 0, json.stderr);
    t.match((JSON.parse(json.stdout) as { namespace: string }[]).find((s) => s.namespace === namespace), { target: "aws", agents: null });
    const table = await runCli(["list"], env);
    t.match(table.stdout, new RegExp(`${namespace}\\s+aws\\s+\\?.*Pulumi stack ${namespace}: list --namespace ${namespace} reads it`));
  });

  t.test("refused localhost plans started no container", async (t) => {
    t.equal((await listFieldtestContainers(docker)).filter((c) => c.Labels[LABELS.owner] === owner).length, 0);
  });

  t.test("reap --dry-run without the Pulumi CLI reports localhost expiries and says it skipped the stacks", async (t) => {
    const namespace = uniqueNamespace("reap");
    cleanupNamespace(t, docker, namespace);
    // A stopped container whose expiry passed a minute ago; an agent would have removed itself.
    const expiredAt = String(Math.floor(Date.now() / 1000) - 60);
    await docker.createContainer({
      Image: "debian:bookworm",
      Cmd: ["true"],
      Labels: { [LABELS.namespace]: namespace, [LABELS.expiresAt]: expiredAt, [LABELS.owner]: owner, "fieldtest-agent": "agent-001" },
    });
    // Scoped to this file's owner: another test's expired containers are not its business.
    const text = await runCli(["reap", "--owner", owner, "--dry-run"], env);
    t.equal(text.code, 0, text.stderr);
    t.match(text.stdout, new RegExp(`would remove \\d+ expired agent\\(s\\): .*${namespace}/agent-001`));
    t.match(text.stdout, /skipped the Pulumi stacks: the Pulumi CLI is not installed \(https:\/\/www\.pulumi\.com\/docs\/install\/\)/);
    t.match(text.stdout, /did not look for leftover VMs: without the stacks, fieldtest cannot tell which labelled VMs they track/);

    const json = await runCli(["reap", "--owner", owner, "--dry-run", "--json"], env);
    t.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    t.equal(report.dryRun, true);
    t.ok(report.expired.some((e: { namespace: string }) => e.namespace === namespace));
    t.same(report.stacks.expired, []);
    t.match(report.stacks.skipped, /Pulumi CLI is not installed/);
    t.same(report.stacks.leftovers, []);
    t.equal((await listFieldtestContainers(docker)).filter((c) => c.Labels[LABELS.namespace] === namespace).length, 1, "the dry run removed nothing");
  });
}
