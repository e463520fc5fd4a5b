// The scale measure's machinery on 100 endpoints (2 containers × 50 sshd, one inventory): the
// runner connects all through runScenario with its website up, fans out, streams a daemon's
// lines from each, broadcasts a file and closes. Checks correctness only, never time.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { silentProgress } from "../src/core/progress.ts";
import { ensureAgentImage } from "../src/targets/docker-engine/image.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { generateEd25519KeyPair } from "../src/transport/keys.ts";
import { downSshdFleet, upSshdFleet } from "../bench/lib/sshd-fleet.ts";
import type { ScaleReport, ScaleRunnerConfig } from "../bench/lib/scale-runner.ts";
import { requireDocker, ROOT, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const run = promisify(execFile);
const CONTAINERS = 2;
const PER_CONTAINER = 50;
const LINES = 200;

const docker = await requireDocker(t);
if (docker) {
  const namespace = uniqueNamespace("scale");
  t.teardown(() => downSshdFleet(docker, namespace));
  const dir = await tempHome(t);
  const image = await ensureAgentImage(docker, { dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" }, silentProgress);
  const key = generateEd25519KeyPair("scale-smoke");
  const fleet = await upSshdFleet(docker, { image, namespace, owner: "test", containers: CONTAINERS, perContainer: PER_CONTAINER, clientPublicKey: key.publicKey, ttlSeconds: 600 });
  const agents = CONTAINERS * PER_CONTAINER;

  t.test("one inventory describes every endpoint, each with its own port, user and pinned host key", async (t) => {
    const specs = fleet.inventory.agents;
    t.equal(specs.length, agents);
    t.equal(new Set(specs.map((a) => `${a.host}:${a.sshPort}`)).size, agents, "every agent has an address and port of its own");
    t.equal(new Set(specs.map((a) => a.hostKey)).size, CONTAINERS, "a host key per container, pinned in the inventory");
    t.equal((await namespaceContainers(docker, namespace)).length, CONTAINERS, "the containers carry the namespace's label");
  });

  t.test("the runner drives all of them through runScenario", async (t) => {
    const inventoryPath = join(dir, "inventory.json");
    const keyPath = join(dir, "key");
    const copyPath = join(dir, "copy.bin");
    await writeFile(inventoryPath, JSON.stringify(fleet.inventory));
    await writeFile(keyPath, key.privateKey, { mode: 0o600 });
    await writeFile(copyPath, randomBytes(256 * 1024));
    const config: ScaleRunnerConfig = { inventoryPath, keyPath, runsDir: join(dir, "runs"), fanoutRounds: 2, linesPerDaemon: LINES, copyPath, copyAgents: agents };
    const configPath = join(dir, "runner.json");
    await writeFile(configPath, JSON.stringify(config));
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, ["--import", "tsx", join(ROOT, "bench", "lib", "scale-runner.ts"), configPath], { cwd: ROOT, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
      ),
    );
    t.equal(code, 0, `the runner exits 0; stderr:\n${stderr}`);
    t.notMatch(stderr, /MaxListenersExceededWarning/, "a fan-out to every agent is no listener leak warning");
    const report = JSON.parse(stdout) as ScaleReport;
    t.same(report.errors, [], "no exec, daemon or copy failed");
    t.equal(report.agents, agents, "every agent was connected and answered `true`");
    t.equal(report.fanout.length, 2, "every fan-out round completed");
    t.equal(report.single.lines, agents * LINES, "one daemon's lines all arrived");
    t.equal(report.streaming.lines, agents * LINES, "no line dropped with every agent streaming");
    t.same(report.streaming.shortAgents, [], "each agent delivered all its lines");
    t.ok(report.streaming.website.state.length > 0, "the website answered /api/state while they streamed");
    t.equal(report.copy.agents, agents, "the broadcast reached every agent");
    t.same(report.copy.failed, []);

    for (const id of fleet.containerIds) {
      const { stdout: inside } = await run("docker", ["exec", id, "sh", "-c", "ls /home/*/scale-copy.bin | wc -l; pgrep -cfx 'sleep 3600' || true"]);
      const [copies, sleeping] = inside.trim().split("\n").map(Number);
      t.equal(copies, PER_CONTAINER, `container ${id.slice(0, 12)}: each of its agents has the copy in its own home`);
      t.equal(sleeping, 0, `container ${id.slice(0, 12)}: the run's close stopped every daemon`);
    }
  });

  t.test("removing the fleet leaves no container behind", async (t) => {
    await downSshdFleet(docker, namespace);
    t.equal((await namespaceContainers(docker, namespace)).length, 0);
  });
}
