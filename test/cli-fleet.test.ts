import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { agentImageTag } from "../src/targets/docker-engine/image.ts";
import { resourceLabels } from "../src/core/namespace.ts";
import { ROLE_LABEL } from "../src/core/labels.ts";
import { containerCount, requireDocker, runCli, tempHome, uniqueNamespace, cleanupNamespace, waitFor, ROOT } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const home = await tempHome(t);
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
  const alice = uniqueNamespace("alice");
  const aliceTest = `${alice}-test`;
  cleanupNamespace(t, docker, alice);
  cleanupNamespace(t, docker, aliceTest);

  t.test("up creates a namespace's agents and prints their inventory", async (t) => {
    const [up1, up2] = await Promise.all([
      runCli(["up", "--localhost", "--network", "host", "--namespace", alice, "--vms", "2", "--ttl", "10m", "--json"], env),
      runCli(["up", "--localhost", "--network", "host", "--namespace", aliceTest, "--vms", "1", "--ttl", "10m"], env),
    ]);
    t.equal(up1.code, 0, up1.stderr);
    t.equal(up2.code, 0, up2.stderr);
    const inventory = JSON.parse(up1.stdout);
    t.equal(inventory.namespace, alice);
    t.same(inventory.agents.map((a: { name: string }) => a.name), ["agent-001", "agent-002"]);
    t.same(inventory.agents[0].inbox, { hostPath: join(home, "namespaces", alice, "inbox"), agentPath: "/run/fieldtest-inbox" }, "agents mount the namespace's inbox");
    t.match(up1.stderr, /agent-001 ready at 127\.0\.0\.1:\d+/, "progress lines on stderr");
    t.match(up2.stdout, /ssh -i .*known_hosts/, "a copy-paste ssh command with the pinned known_hosts");
  });

  t.test("two namespaces created at once get disjoint port slices", async (t) => {
    const all = [...JSON.parse((await runCli(["list", "--namespace", alice, "--json"], env)).stdout), ...JSON.parse((await runCli(["list", "--namespace", aliceTest, "--json"], env)).stdout)];
    const ranges = all.map((a: { portRange: string }) => a.portRange.split("-").map(Number) as [number, number]);
    t.equal(ranges.length, 3);
    for (let i = 0; i < ranges.length; i++)
      for (let j = i + 1; j < ranges.length; j++) t.ok(ranges[i]![1] < ranges[j]![0] || ranges[j]![1] < ranges[i]![0], `slices ${i} and ${j} are disjoint`);
  });

  t.test("list shows namespaces and agents, as a table or JSON", async (t) => {
    const table = await runCli(["list"], env);
    t.equal(table.code, 0);
    t.match(table.stdout, new RegExp(`^${alice}\\s+localhost\\s+2/2`, "m"));
    const agents = JSON.parse((await runCli(["list", "--namespace", alice, "--json"], env)).stdout);
    t.equal(agents.length, 2);
    t.equal(agents[0].state, "running");
    t.match(agents[0].address, /^127\.0\.0\.1:\d+$/);
  });

  t.test("run --namespace reuses the live agents and leaves them running", async (t) => {
    const run = await runCli(["run", "health", "--namespace", alice], env);
    t.equal(run.code, 0, run.stderr + run.stdout);
    t.match(run.stdout, /all 2 agents healthy/);
    t.equal(await containerCount(docker, alice), 2, "still there after the run");
  });

  t.test("run --inventory uses an inventory file", async (t) => {
    const inventory = await runCli(["inventory", "--namespace", alice], env);
    t.equal(inventory.code, 0, inventory.stderr);
    const file = join(home, "alice.json");
    await writeFile(file, inventory.stdout);
    const scenario = join(home, "names.mts");
    await writeFile(
      scenario,
      `import { defineScenario } from "fieldtest";\nexport default defineScenario({ name: "names", async run(cloud) { for (const a of cloud.agents) cloud.log(a.name + " " + (await a.exec("echo $((6*7))")).stdout.trim()); } });\n`,
    );
    const run = await runCli(["run", scenario, "--inventory", file, "--json"], env, ROOT);
    t.equal(run.code, 0, run.stderr);
    t.equal(JSON.parse(run.stdout).result, "passed");
    t.match(run.stderr, /agent-002 42/, "scenario output goes to stderr with --json");
  });

  t.test("a host key that does not match the pinned one is refused", async (t) => {
    const inventory = JSON.parse((await runCli(["inventory", "--namespace", alice], env)).stdout);
    // Pin agent-002's key for agent-001: same format, wrong key.
    inventory.agents[0].hostKey = inventory.agents[1].hostKey;
    const file = join(home, "tampered.json");
    await writeFile(file, JSON.stringify(inventory));
    const run = await runCli(["run", "health", "--inventory", file], env);
    t.equal(run.code, 1);
    t.match(run.stderr, /host key of 127\.0\.0\.1:\d+ does not match the pinned key/);
  });

  t.test("a container serving the namespace's runs (Grafana) is not listed as an agent", async (t) => {
    const image = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    const expiresAt = new Date(Date.now() + 600_000);
    const service = await docker.createContainer({
      Image: image,
      Entrypoint: ["sleep", "600"],
      Labels: { ...resourceLabels({ namespace: alice, expiresAt, owner: "tap" }), [ROLE_LABEL]: "grafana" },
    });
    await service.start();
    const agents = JSON.parse((await runCli(["list", "--namespace", alice, "--json"], env)).stdout) as { name: string }[];
    t.same(agents.map((a) => a.name), ["agent-001", "agent-002"]);
    const inventory = JSON.parse((await runCli(["inventory", "--namespace", alice], env)).stdout) as { agents: unknown[] };
    t.equal(inventory.agents.length, 2);
    const summary = JSON.parse((await runCli(["list", "--json"], env)).stdout) as { namespace: string; agents: number }[];
    t.equal(summary.find((s) => s.namespace === alice)?.agents, 2);
  });

  t.test("destroy is exact: alice goes, alice-test stays", async (t) => {
    const dry = await runCli(["destroy", "--namespace", alice, "--dry-run", "--json"], env);
    t.same(JSON.parse(dry.stdout), { namespace: alice, dryRun: true, agents: ["agent-001", "agent-002", "grafana"] });
    t.equal(await containerCount(docker, alice), 3, "dry run removed nothing");

    const destroy = await runCli(["destroy", "--namespace", alice], env);
    t.equal(destroy.code, 0, destroy.stderr);
    t.match(destroy.stdout, /removed 3 container\(s\) of namespace .*: agent-001, agent-002, grafana/);
    await waitFor("alice's containers to be gone", async () => ((await containerCount(docker, alice)) === 0 ? true : undefined), 10_000);
    t.equal(await containerCount(docker, aliceTest), 1, `${aliceTest} is untouched`);

    const again = await runCli(["destroy", "--namespace", alice], env);
    t.equal(again.code, 0);
    t.match(again.stdout, /no agents in namespace/);
    const reuse = await runCli(["run", "health", "--namespace", alice], env);
    t.equal(reuse.code, 2, "running on a destroyed namespace is bad input");
    t.match(reuse.stderr, /has no running agents/);
  });
}
