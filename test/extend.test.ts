// `fieldtest extend`: the new expiry is written into every container of the namespace, and the
// agent's own timer, the engine's reaper and `list` all honour it.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { readExtendedExpiry } from "../src/targets/docker-engine/extension.ts";
import { agentImageTag } from "../src/targets/docker-engine/image.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  t.test("extend outlives the original TTL, for the agent and for a container that never started", async (t) => {
    const home = await tempHome(t);
    const owner = `ext-${randomBytes(4).toString("hex")}`;
    const namespace = uniqueNamespace("ext");
    cleanupNamespace(t, docker, namespace);
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "", FIELDTEST_OWNER: owner };
    const up = await runCli(["up", "--localhost", "--namespace", namespace, "--vms", "1", "--ttl", "6s"], env);
    t.equal(up.code, 0, up.stderr);
    // A container the runner created but never started, as after a crash: only the reaper can end it.
    const image = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    const labels = (await namespaceContainers(docker, namespace))[0]!.Labels;
    await docker.createContainer({ Image: image, Labels: { [LABELS.namespace]: namespace, [LABELS.owner]: labels[LABELS.owner]!, [LABELS.expiresAt]: labels[LABELS.expiresAt]!, "fieldtest-agent": "agent-002" } });

    const extend = await runCli(["extend", "--namespace", namespace, "--ttl", "10m", "--json"], env);
    t.equal(extend.code, 0, extend.stderr);
    const result = JSON.parse(extend.stdout) as { expiresAt: string; agents: string[] };
    t.same(result.agents, ["agent-001", "agent-002"]);
    const expiresAt = Date.parse(result.expiresAt);
    t.ok(Math.abs(expiresAt - (Date.now() + 600_000)) < 30_000, "about 10 minutes from now");
    for (const c of await namespaceContainers(docker, namespace)) {
      t.equal((await readExtendedExpiry(docker, c.Id))?.getTime(), Math.floor(expiresAt / 1000) * 1000, `written into ${c.Labels["fieldtest-agent"]}`);
    }

    // Past the original TTL, with the reaper's interval on top.
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const listed = JSON.parse((await runCli(["list", "--namespace", namespace, "--json"], env)).stdout) as { name: string; state: string; expiresAt: string }[];
    t.same(listed.map((a) => [a.name, a.state]), [["agent-001", "running"], ["agent-002", "created"]], "both outlived the original TTL");
    t.ok(listed.every((a) => Date.parse(a.expiresAt) === Math.floor(expiresAt / 1000) * 1000), "list shows the new expiry");
    const earlier = await runCli(["extend", "--namespace", namespace, "--ttl", "1m"], env);
    t.equal(earlier.code, 2, "an earlier expiry is refused");
    t.match(earlier.stderr, /already lives until .*extend only moves the expiry later/);
    const run = await runCli(["run", "health", "--namespace", namespace], env);
    t.match(run.stdout + run.stderr, /agent-001/, "the extended agent still answers");
  });

  t.test("extend needs --ttl and a namespace with agents", async (t) => {
    const home = await tempHome(t);
    const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };
    const noTtl = await runCli(["extend", "--namespace", "nobody"], env);
    t.equal(noTtl.code, 2);
    t.match(noTtl.stderr, /extend needs --ttl <duration>/);
    const empty = await runCli(["extend", "--namespace", uniqueNamespace("none"), "--ttl", "1h"], env);
    t.equal(empty.code, 2);
    t.match(empty.stderr, /has no agents to extend/);
  });
}
