// A user's own project, as a new user makes it: fieldtest installed from its packed tarball,
// a scenario with three groups of different images and shapes, and Dockerfiles of its own
// (two extending fieldtest's agent image, one that does not meet the agent contract).
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { AGENT_LABELS } from "../src/targets/docker-engine/labels.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, containerCount, requireDocker, uniqueNamespace, type CliResult } from "./helpers/fleet.ts";
import { installPackedFieldtest } from "./helpers/packed.ts";

const SCENARIO = `import { defineScenario, z } from "fieldtest";

export default defineScenario({
  name: "trio",
  description: "A hub, workers and a store, each group on its own image and shape.",
  invariants: ["every agent runs its group's image"],
  params: z.object({ workers: z.number().int().min(1).max(3).default(1).describe("how many workers") }),
  fleet: (p) => ({
    hub: { count: 1 },
    worker: { count: p.workers, image: "marker-worker", shape: { cores: 0.5, ramGb: 0.25 } },
    store: { count: 1, image: "marker-store", shape: { cores: 1, ramGb: 0.5 } },
  }),
  async run(cloud, p) {
    for (const agent of cloud.agents) {
      const marker = (await agent.exec("cat /etc/fieldtest-marker 2>/dev/null || echo none")).stdout.trim();
      cloud.log(\`seen \${agent.name} group=\${agent.group} marker=\${marker}\`);
    }
    cloud.log(\`workers \${cloud.group("worker").map((a) => a.name).join(",")} of \${p.workers}\`);
    try {
      cloud.group("nope");
    } catch (error) {
      cloud.log(\`group error: \${error.message}\`);
    }
  },
});
`;

// npm pack compiles the package (prepack), and packs wait for each other: minutes on a busy machine.
t.setTimeout(15 * 60_000);
const docker = await requireDocker(t);
if (docker) {
  let project = "";
  let fieldtest: (args: string[]) => Promise<CliResult> = () => Promise.reject(new Error("not installed yet"));

  t.before(async () => {
    const packed = await installPackedFieldtest(t);
    project = packed.dir;
    const env = { FIELDTEST_HOME: join(project, ".state"), FIELDTEST_RUNS_DIR: join(project, "runs") };
    fieldtest = (args) => packed.fieldtest(args, env);
    await mkdir(join(project, "scenarios"));
    await mkdir(join(project, "dockerfiles"));
    await writeFile(join(project, "scenarios", "trio.ts"), SCENARIO);
    // Its own content per run, so that the build and the contract check of a good image run every time.
    await writeFile(join(project, "dockerfiles", "marker-worker.Dockerfile"), `# ${project}\nFROM fieldtest-agent:debian\nRUN echo worker > /etc/fieldtest-marker\n`);
    await writeFile(join(project, "dockerfiles", "store-marker"), "store\n");
    await writeFile(join(project, "dockerfiles", "marker-store.Dockerfile"), "ARG FIELDTEST_AGENT_IMAGE\nFROM ${FIELDTEST_AGENT_IMAGE}\nCOPY store-marker /etc/fieldtest-marker\n");
    await writeFile(join(project, "dockerfiles", "plain.Dockerfile"), 'FROM debian:bookworm\nENTRYPOINT ["sleep", "infinity"]\n');
  });

  t.test("three groups of different images and shapes: each agent runs its group's image within its shape's limits", async (t) => {
    const namespace = uniqueNamespace("trio");
    cleanupNamespace(t, docker, namespace);
    const result = await fieldtest(["run", "trio", "--localhost", "--namespace", namespace, "--ttl", "10m", "--group", "worker=2", "--keep"]);
    t.equal(result.code, 0, "the run passes", { output: result.stderr + result.stdout });
    t.match(result.stderr, /4 agent\(s\), 2 cores, 1 GB \(and 1 agent\(s\) of no declared size\) in all/, "the plan sums the shapes");
    t.match(result.stderr, /2 × 0\.5 cores, 0\.25 GB → container \(image marker-worker, limits 0\.5 cores, 0\.25 GB\)\s+group worker\s+worker-001 … worker-002/);
    for (const line of ["seen hub-001 group=hub marker=none", "seen worker-001 group=worker marker=worker", "seen worker-002 group=worker marker=worker", "seen store-001 group=store marker=store"]) {
      t.match(result.stdout, line);
    }
    t.match(result.stdout, "workers worker-001,worker-002 of 1", "--group overrides the count the parameters gave");
    t.match(result.stdout, `group error: no group named "nope" in namespace ${namespace}; groups are: hub, store, worker`);

    const containers = await namespaceContainers(docker, namespace);
    const limits = new Map<string, { cpus: number; memory: number; image: string }>();
    for (const container of containers) {
      const info = await docker.getContainer(container.Id).inspect();
      limits.set(container.Labels[AGENT_LABELS.agent]!, { cpus: info.HostConfig.NanoCpus ?? 0, memory: info.HostConfig.Memory ?? 0, image: info.Config.Image });
    }
    t.same(limits.get("worker-002")?.cpus, 0.5e9);
    t.same(limits.get("worker-002")?.memory, 0.25 * 1024 ** 3);
    t.same(limits.get("store-001")?.cpus, 1e9);
    t.same(limits.get("store-001")?.memory, 0.5 * 1024 ** 3);
    t.same(limits.get("hub-001")?.cpus, 0, "a group without a shape has no limits");
    t.match(limits.get("store-001")?.image, /^fieldtest-agent:marker-store-[0-9a-f]{12}$/);
    const workerImage = limits.get("worker-001")!.image;
    t.match(result.stderr, `building agent image ${workerImage}`);
    t.teardown(() => docker.getImage(workerImage).remove({ force: true }).catch(() => {}));

    const runs = join(project, "runs", namespace);
    const [runId] = await readdir(runs);
    const inventory = JSON.parse(await readFile(join(runs, runId!, "inventory.json"), "utf8")) as { agents: Array<{ name: string; group?: string; labels: Record<string, string> }> };
    t.same(
      inventory.agents.map((a) => [a.name, a.group, a.labels.image]),
      [
        ["hub-001", "hub", "debian"],
        ["store-001", "store", "marker-store"],
        ["worker-001", "worker", "marker-worker"],
        ["worker-002", "worker", "marker-worker"],
      ],
    );
    const config = JSON.parse(await readFile(join(runs, runId!, "config.json"), "utf8")) as { params: unknown };
    t.same(config.params, { workers: 1 }, "the parameters used are in config.json");
  });

  t.test("describe shows the groups, the parameters with their defaults and docs, and the invariants", async (t) => {
    const result = await fieldtest(["describe", "trio", "--param", "workers=3"]);
    t.equal(result.code, 0, "describe works", { stderr: result.stderr });
    t.match(result.stdout, /worker\s+3 ×\s+image marker-worker\s+0\.5 cores, 0\.25 GB\s+worker-001 … worker-003/);
    t.match(result.stdout, /workers\s+integer\s+default 1\s+≥ 1, ≤ 3\s+how many workers/);
    t.match(result.stdout, "- every agent runs its group's image");
  });

  t.test("an image that does not meet the agent contract is refused, saying what is missing", async (t) => {
    const namespace = uniqueNamespace("plain");
    cleanupNamespace(t, docker, namespace);
    const result = await fieldtest(["run", "trio", "--localhost", "--namespace", namespace, "--image", "plain"]);
    t.equal(result.code, 2, "bad input", { stderr: result.stderr });
    t.match(result.stderr, /plain\.Dockerfile does not make a fieldtest agent/);
    t.match(result.stderr, /its ENTRYPOINT is \["sleep","infinity"\], not \/usr\/local\/bin\/fieldtest-agent/);
    t.match(result.stderr, /it has no \/usr\/sbin\/sshd/);
    t.equal(await containerCount(docker, namespace), 0, "nothing was created");
  });

  t.test("a published image that cannot be pulled is refused with a clear message", async (t) => {
    const namespace = uniqueNamespace("pull");
    cleanupNamespace(t, docker, namespace);
    // A registry on a closed loopback port: the pull fails at once, and no traffic leaves the machine.
    const result = await fieldtest(["run", "trio", "--localhost", "--namespace", namespace, "--image", "127.0.0.1:1/fieldtest-test/none:1"]);
    t.equal(result.code, 2, "bad input", { stderr: result.stderr });
    t.match(result.stderr, /image 127\.0\.0\.1:1\/fieldtest-test\/none:1 is not on this Docker engine and cannot be pulled/);
    t.equal(await containerCount(docker, namespace), 0, "nothing was created");
  });
}
