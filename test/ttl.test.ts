import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { agentImageTag } from "../src/localhost/image.ts";
import { containerCount, requireDocker, runCli, startCli, tempHome, uniqueNamespace, cleanupNamespace, waitFor, waitForOutput, ROOT } from "./helpers/fleet.ts";
import { join } from "node:path";

const docker = await requireDocker(t);
if (docker) {
  t.test("agents remove themselves at their TTL after the runner is killed -9", async (t) => {
    const home = await tempHome(t);
    const namespace = uniqueNamespace("ttl");
    cleanupNamespace(t, docker, namespace);
    const runner = startCli(["run", "health", "--localhost", "--vms", "2", "--namespace", namespace, "--ttl", "12s", "--keep-alive"], { FIELDTEST_HOME: home });
    await waitForOutput(runner, /keeping the agents alive/, "the run to reach keep-alive", 60_000);
    t.equal(await containerCount(docker, namespace), 2, "agents are up");
    runner.kill("SIGKILL");
    await new Promise((resolve) => runner.once("exit", resolve));
    t.equal(await containerCount(docker, namespace), 2, "killing the runner left them running (no teardown ran)");
    const gone = Date.now();
    await waitFor("the agents' TTL to remove them", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 40_000, 250);
    t.pass(`agents were gone ${((Date.now() - gone) / 1000).toFixed(1)}s after the kill`);
  });

  t.test("reap removes exactly what has expired", async (t) => {
    const home = await tempHome(t);
    const expired = uniqueNamespace("old");
    const fresh = uniqueNamespace("new");
    cleanupNamespace(t, docker, expired);
    cleanupNamespace(t, docker, fresh);
    // Containers whose own timer is not running (sleep instead of the agent): only reap can remove them.
    const image = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    const now = Math.floor(Date.now() / 1000);
    for (const [namespace, expiresAt] of [[expired, now - 60], [fresh, now + 3600]] as const) {
      const container = await docker.createContainer({
        Image: image,
        Entrypoint: ["sleep", "600"],
        Labels: { [LABELS.namespace]: namespace, [LABELS.expiresAt]: String(expiresAt), [LABELS.owner]: "tap" },
      });
      await container.start();
    }
    const env = { FIELDTEST_HOME: home };
    const dry = await runCli(["reap", "--dry-run", "--json"], env);
    t.equal(dry.code, 0, dry.stderr);
    const listed = JSON.parse(dry.stdout).expired.map((e: { namespace: string }) => e.namespace);
    t.ok(listed.includes(expired), "the expired namespace is listed");
    t.notOk(listed.includes(fresh), "the fresh one is not");
    t.equal(await containerCount(docker, expired), 1, "dry run removed nothing");

    const reap = await runCli(["reap"], env);
    t.equal(reap.code, 0, reap.stderr);
    t.equal(await containerCount(docker, expired), 0, "expired container removed");
    t.equal(await containerCount(docker, fresh), 1, "unexpired container kept");
  });
}
