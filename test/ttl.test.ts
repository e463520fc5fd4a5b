import { randomBytes } from "node:crypto";
import { join } from "node:path";
import t from "tap";
import { LABELS } from "../src/core/namespace.ts";
import { agentImageTag } from "../src/targets/docker-engine/image.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { reaperName } from "../src/targets/docker-engine/reaper.ts";
import { containerCount, requireDocker, runCli, startCli, tempHome, uniqueNamespace, cleanupNamespace, waitFor, waitForOutput, ROOT } from "./helpers/fleet.ts";

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

  t.test("kill -9 at any point of bring-up: the engine's reaper removes everything at the TTL", async (t) => {
    const home = await tempHome(t);
    // This test's own owner, so its reaper and its containers are its own.
    const owner = `ttl-${randomBytes(4).toString("hex")}`;
    const ttlSeconds = 6;
    const states = (containers: { State?: string }[]) => containers.map((c) => c.State ?? "?");
    // When to kill: the first moment the namespace's containers look like this. An agent starts
    // as soon as it is created, so "created" alone may never be seen: the first container to
    // exist, in whatever state, is the earliest point (a never-started one is checked below).
    const points: Array<[string, (states: string[]) => boolean]> = [
      ["after the first create", (s) => s.length > 0],
      ["mid-start", (s) => s.includes("running")],
      ["before readiness", (s) => s.length === 4 && s.every((state) => state === "running")],
    ];
    const killed = await Promise.all(
      points.map(async ([point, reached]) => {
        const namespace = uniqueNamespace("crash");
        cleanupNamespace(t, docker, namespace);
        const runner = startCli(["run", "health", "--localhost", "--vms", "4", "--namespace", namespace, "--ttl", `${ttlSeconds}s`], { FIELDTEST_HOME: home, FIELDTEST_OWNER: owner });
        const exited = new Promise((resolve) => runner.once("exit", resolve));
        const seen = await waitFor(`${point} in ${namespace}`, async () => {
          const now = states(await namespaceContainers(docker, namespace));
          return reached(now) ? now : undefined;
        }, 60_000, 5);
        runner.kill("SIGKILL");
        const at = Date.now();
        await exited;
        return { point, namespace, at, seen, left: states(await namespaceContainers(docker, namespace)) };
      }),
    );
    for (const { point, seen, left } of killed) t.comment(`${point}: killed when the containers were [${seen.join(", ")}], left [${left.join(", ")}]`);
    // Agents start as soon as they exist, so the kill above may miss the window between create
    // and start. A container that never started, of this owner, as a runner killed there leaves it:
    // its own timer never runs, so only the reaper the runs made can remove it.
    const never = { point: "never started", namespace: uniqueNamespace("never"), at: Date.now() };
    cleanupNamespace(t, docker, never.namespace);
    const image = await agentImageTag({ dockerfilesDir: join(ROOT, "dockerfiles"), alias: "debian" });
    await docker.createContainer({
      Image: image,
      Labels: { [LABELS.namespace]: never.namespace, [LABELS.expiresAt]: String(Math.floor(never.at / 1000) + ttlSeconds), [LABELS.owner]: owner },
    });
    for (const { point, namespace, at } of [...killed, never]) {
      const deadline = at + (ttlSeconds + 10) * 1000;
      await waitFor(`nothing of ${namespace} (${point})`, async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), Math.max(0, deadline - Date.now()), 250);
      t.pass(`${point}: nothing of the namespace ${((Date.now() - at) / 1000).toFixed(1)}s after the kill (ttl ${ttlSeconds}s)`);
    }
    await waitFor("the reaper to leave once nothing of its owner is left", async () => {
      const reaper = await docker.getContainer(reaperName(owner)).inspect().catch(() => undefined);
      return reaper ? undefined : true;
    }, 30_000, 500);
    t.pass("the reaper exited by itself");
  });

  t.test("reap removes exactly what has expired, in its --owner scope", async (t) => {
    const home = await tempHome(t);
    // An owner of its own: no other test's reaper or reap touches these containers.
    const owner = `reap-${randomBytes(4).toString("hex")}`;
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
        Labels: { [LABELS.namespace]: namespace, [LABELS.expiresAt]: String(expiresAt), [LABELS.owner]: owner },
      });
      await container.start();
    }
    const env = { FIELDTEST_HOME: home };
    const dry = await runCli(["reap", "--owner", owner, "--dry-run", "--json"], env);
    t.equal(dry.code, 0, dry.stderr);
    const listed = JSON.parse(dry.stdout).expired.map((e: { namespace: string }) => e.namespace);
    t.ok(listed.includes(expired), "the expired namespace is listed");
    t.notOk(listed.includes(fresh), "the fresh one is not");
    const other = await runCli(["reap", "--owner", `${owner}-other`, "--dry-run", "--json"], env);
    t.notOk(JSON.parse(other.stdout).expired.some((e: { namespace: string }) => e.namespace === expired), "another owner's reap does not see it");
    t.equal(await containerCount(docker, expired), 1, "dry run removed nothing");

    const reap = await runCli(["reap", "--owner", owner], env);
    t.equal(reap.code, 0, reap.stderr);
    t.equal(await containerCount(docker, expired), 0, "expired container removed");
    t.equal(await containerCount(docker, fresh), 1, "unexpired container kept");
  });
}
