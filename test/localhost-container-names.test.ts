// Agent containers are named `fieldtest-<ns>--<agent>`: namespace `a` with group `b-node` and
// namespace `a-b` with group `node` were both `fieldtest-a-b-node-001`, so the second `up` was
// refused by the engine. Both are made at once on the real engine; then one fleet's container
// takes the name an earlier version gave it, and the CLI still finds it by its labels.
import { join } from "node:path";
import t from "tap";
import { silentProgress } from "../src/core/progress.ts";
import { AGENT_LABELS } from "../src/targets/docker-engine/labels.ts";
import { namespaceContainers, upLocalhost } from "../src/targets/docker-engine/provisioner.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { cleanupNamespace, containerCount, requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const home = await tempHome(t);
  const env = { FIELDTEST_HOME: home };
  const first = uniqueNamespace("names");
  const second = `${first}-b`;
  cleanupNamespace(t, docker, first);
  cleanupNamespace(t, docker, second);

  const containerNames = async (namespace: string) =>
    Promise.all((await namespaceContainers(docker, namespace)).filter((c) => c.Labels[AGENT_LABELS.agent]).map(async (c) => (await docker.getContainer(c.Id).inspect()).Name));

  t.test(`namespace ${first} with group b-node and namespace ${second} with group node are up at once`, async (t) => {
    const up = async (namespace: string, group: string) =>
      upLocalhost(docker, {
        namespace,
        groups: [{ name: group, count: 1, image: "debian" }],
        ttlSeconds: 600,
        portsPerAgent: 10,
        owner: "tap",
        clientKey: await new NamespaceState(home, namespace).clientKey(),
        images: { projectDirs: [], fieldtestDir: join(ROOT, "dockerfiles") },
        progress: silentProgress,
      });
    const [a, b] = await Promise.all([up(first, "b-node"), up(second, "node")]);
    t.same([a.agents.map((agent) => agent.name), b.agents.map((agent) => agent.name)], [["b-node-001"], ["node-001"]]);
    t.same(await containerNames(first), [`/fieldtest-${first}--b-node-001`]);
    t.same(await containerNames(second), [`/fieldtest-${second}--node-001`]);
    for (const namespace of [first, second]) {
      const run = await runCli(["run", "health", "--namespace", namespace], env);
      t.equal(run.code, 0, `${namespace}: ${run.stderr}`);
    }
  });

  t.test("an agent named as earlier versions named it is found by its labels: run and destroy", async (t) => {
    const [agent] = (await namespaceContainers(docker, first)).filter((c) => c.Labels[AGENT_LABELS.agent]);
    await docker.getContainer(agent!.Id).rename({ name: `fieldtest-${first}-b-node-001` });
    const run = await runCli(["run", "health", "--namespace", first], env);
    t.equal(run.code, 0, run.stderr);
    t.match(run.stdout, /all 1 agents? healthy/);
    const destroy = await runCli(["destroy", "--namespace", first], env);
    t.equal(destroy.code, 0, destroy.stderr);
    t.equal(await containerCount(docker, first), 0, "its container is removed");
    t.equal(await containerCount(docker, second), 1, "the other namespace's agent stays");
  });
}
