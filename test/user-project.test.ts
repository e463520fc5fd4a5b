// A user's own project, as a new user makes it: fieldtest installed from its packed tarball,
// a scenario with three groups of different images and shapes, and Dockerfiles of its own
// (two extending fieldtest's agent image, one that does not meet the agent contract), on
// localhost and, planned, on a cloud, whose Pulumi program the generated project runs.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import t from "tap";
import { AGENT_LABELS } from "../src/targets/docker-engine/labels.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, containerCount, requireDocker, uniqueNamespace, type CliResult } from "./helpers/fleet.ts";
import { installPackedFieldtest, linkCloudSdks } from "./helpers/packed.ts";
import { assertRunsTheFleetProgram, exampleGcpConfig } from "./helpers/pulumi-project.ts";

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

const GCP = ["--cloud", "gcp", "--project", "my-project", "--zone", "europe-west1-b", "--ssh-source-range", "203.0.113.7/32"];
const pattern = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const nothingMade = (namespace: string) => !existsSync(join(project, ".state", "namespaces", namespace)) && !existsSync(join(project, ".state", "pulumi"));

t.test("up --cloud --scenario --dry-run plans the project's own images, each after the one it extends", async (t) => {
  const result = await fieldtest(["up", ...GCP, "--namespace", "trio-gcp", "--scenario", "trio", "--dry-run"]);
  t.equal(result.code, 0, "the plan passes", { stderr: result.stderr });
  const dockerfiles = join(project, "dockerfiles");
  t.match(
    result.stderr,
    new RegExp(
      "\\n {2}images, built here and pushed to the namespace's registry[^\\n]*\\n" +
        " {4}debian {9}fieldtest's dockerfiles/debian\\.Dockerfile\\n" +
        ` {4}marker-worker  ${pattern(join(dockerfiles, "marker-worker.Dockerfile"))}, extends debian\\n` +
        ` {4}marker-store {3}${pattern(join(dockerfiles, "marker-store.Dockerfile"))}, extends debian\\n`,
    ),
  );
  t.match(result.stderr, "dry run: nothing was created");
  t.ok(nothingMade("trio-gcp"), "no namespace state, no Pulumi project");
});

t.test("up --cloud --image <the project's image> --dry-run plans it too", async (t) => {
  const result = await fieldtest(["up", ...GCP, "--namespace", "one-gcp", "--image", "marker-worker", "--vms", "2", "--dry-run"]);
  t.equal(result.code, 0, "the plan passes", { stderr: result.stderr });
  t.match(result.stderr, new RegExp(` {4}marker-worker  ${pattern(join(project, "dockerfiles", "marker-worker.Dockerfile"))}, extends debian\\n`));
});

t.test("on a cloud, an image found nowhere, or extending one found nowhere, is bad input naming the file and the fix; nothing is made", async (t) => {
  const dockerfiles = join(project, "dockerfiles");
  const missing = await fieldtest(["up", ...GCP, "--namespace", "nope-gcp", "--image", "nope", "--dry-run"]);
  t.equal(missing.code, 2, "bad input", { stderr: missing.stderr });
  t.match(missing.stderr, `no nope.Dockerfile in ${dockerfiles} or fieldtest's dockerfiles/; known images: debian, fleet, marker-store, marker-worker, plain: add ${dockerfiles}/nope.Dockerfile (it may start FROM fieldtest-agent:debian)`);
  t.ok(nothingMade("nope-gcp"));
  await writeFile(join(dockerfiles, "orphan.Dockerfile"), "FROM fieldtest-agent:gone\n");
  t.teardown(() => rm(join(dockerfiles, "orphan.Dockerfile"), { force: true }));
  const orphan = await fieldtest(["up", ...GCP, "--namespace", "orphan-gcp", "--image", "orphan", "--dry-run"]);
  t.equal(orphan.code, 2, "bad input", { stderr: orphan.stderr });
  t.match(orphan.stderr, `${join(dockerfiles, "orphan.Dockerfile")} extends fieldtest-agent:gone, which is found nowhere: image "gone": no gone.Dockerfile in ${dockerfiles}, `);
  t.match(orphan.stderr, "Add dockerfiles/gone.Dockerfile to your project");
  t.ok(nothingMade("orphan-gcp"));
});

t.test("the Pulumi project the installed package generates: the runner loads its program, which builds the project's images", async (t) => {
  await linkCloudSdks(project);
  const installed = join(project, "node_modules", "fieldtest");
  const { prepareStackProject, stackProjectDir } = (await import(pathToFileURL(join(installed, "build", "src", "targets", "pulumi", "stack-project.js")).href)) as typeof import("../src/targets/pulumi/stack-project.ts");
  const projectDir = stackProjectDir({ env: { FIELDTEST_HOME: join(project, ".state") }, packageRoot: installed });
  t.equal(projectDir, join(project, ".state", "pulumi"), "in the state directory, not in the package");
  await prepareStackProject(projectDir, installed);
  const dockerfiles = join(project, "dockerfiles");
  const config = await exampleGcpConfig({
    "fieldtest:agents": JSON.stringify([{ name: "node", count: 1, image: "marker-worker" }]),
    "fieldtest:dockerfileDirs": JSON.stringify([dockerfiles]),
  });
  const registrations = await assertRunsTheFleetProgram(t, projectDir, config);
  const images = new Map(registrations.filter((r) => r.type === "docker-build:index:Image").map((r) => [r.name.replace(/^.*-image-/, ""), r.inputs as { context: { location: string } }]));
  t.same([...images.keys()], ["debian", "marker-worker"], "the project's image, after fieldtest's it extends");
  t.equal(images.get("marker-worker")?.context.location, relative(projectDir, dockerfiles), "built from the project's dockerfiles/");
  t.equal(images.get("debian")?.context.location, relative(projectDir, join(installed, "dockerfiles")), "fieldtest's image from the installed package");
});

const docker = await requireDocker(t);
if (docker) {
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
