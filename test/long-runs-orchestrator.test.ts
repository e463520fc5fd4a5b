// The orchestrator container's parts that need no engine: the runner's command line derived
// from the typed one, the package's mounts, and the container's settings (labels, mounts,
// network, published website, no Docker socket).
import t from "tap";
import { mkdir, mkdtemp, realpath, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { withoutOptions } from "../src/cli/detach.ts";
import { orchestratorContainerOptions, packageMounts, type OrchestratorRequest } from "../src/runs/homes/engine-container.ts";

t.test("the runner's command line drops the fleet's options in either spelling, and keeps the rest", async (t) => {
  const run = new Command("run")
    .option("--localhost")
    .option("--vms <count>")
    .option("--ttl <duration>")
    .option("--param <pair>")
    .option("--detach")
    .option("--daemon-output <level>");
  const argv = ["run", "s.ts", "--localhost", "--vms", "2", "--ttl=40s", "--param", "ttl=3", "--detach", "--daemon-output", "errors", "--", "--vms"];
  t.same(withoutOptions(argv, run.options, ["--localhost", "--vms", "--ttl", "--detach"]), ["run", "s.ts", "--param", "ttl=3", "--daemon-output", "errors", "--", "--vms"]);
  // A value that looks like a dropped flag is a value, not a flag.
  t.same(withoutOptions(["run", "s.ts", "--param", "--vms"], run.options, ["--vms"]), ["run", "s.ts", "--param", "--vms"]);
});

t.test("the package's mounts: itself, a linked node_modules, and the node_modules that holds it", async (t) => {
  const base = await realpath(await mkdtemp(join(tmpdir(), "fieldtest-orchestrator-")));
  t.teardown(async () => (await import("node:fs/promises")).rm(base, { recursive: true, force: true }));
  const linked = join(base, "checkout");
  const modules = join(base, "shared-modules");
  await mkdir(linked);
  await mkdir(modules);
  await symlink(modules, join(linked, "node_modules"));
  t.same(packageMounts(linked), [linked, modules]);
  const installed = join(base, "project", "node_modules", "fieldtest");
  await mkdir(installed, { recursive: true });
  t.same(packageMounts(installed), [installed, join(base, "project", "node_modules")]);
});

t.test("the container: the namespace's labels and expiry, its network, loopback website, mounts at their own paths", async (t) => {
  const request: OrchestratorRequest = {
    namespace: "alice",
    runId: "20261201-224415-abcd",
    owner: "bob",
    expiresAt: new Date("2026-12-02T00:00:00Z"),
    network: "own",
    image: "fieldtest-agent:debian-0123",
    nodePath: "/usr/bin/node",
    args: ["/pkg/bin/fieldtest.js", "run", "s.ts"],
    consolePath: "/runs/alice/r/console.log",
    readOnly: ["/pkg", "/pkg/scenarios", "/home/me/params.json"],
    readWrite: ["/state/namespaces/alice", "/runs/alice/r"],
    cwd: "/home/me",
    env: { PATH: "/host/bin", HOME: "/root", LONG_RUN_SECONDS: "5" },
    user: "1000:1000",
    website: { host: "127.0.0.1", port: 8099 },
  };
  const options = orchestratorContainerOptions(request);
  t.equal(options.name, "fieldtest-alice-run-20261201-224415-abcd");
  t.match(options.Labels, { "fieldtest-namespace": "alice", "fieldtest-owner": "bob", "fieldtest-expires-at": String(Date.parse("2026-12-02T00:00:00Z") / 1000), "fieldtest-role": "orchestrator", "fieldtest-run": request.runId });
  t.notOk(options.Labels?.["fieldtest-agent"], "never listed as an agent");
  t.same(options.HostConfig?.Binds, [
    "/usr/bin/node:/usr/bin/node:ro",
    "/pkg:/pkg:ro",
    "/home/me/params.json:/home/me/params.json:ro",
    "/state/namespaces/alice:/state/namespaces/alice",
    "/runs/alice/r:/runs/alice/r",
  ]);
  t.equal(options.HostConfig?.NetworkMode, "fieldtest-alice");
  t.same(options.HostConfig?.PortBindings, { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: "8099" }] });
  t.equal(options.HostConfig?.AutoRemove, true);
  t.same(options.HostConfig?.CapDrop, ["ALL"]);
  t.equal(options.User, "1000:1000");
  t.equal(options.WorkingDir, "/home/me");
  t.same(options.Entrypoint?.slice(3), ["/usr/bin/node", "/pkg/bin/fieldtest.js", "run", "s.ts"]);
  t.ok(options.Env?.includes("LONG_RUN_SECONDS=5"), "the caller's environment reaches the scenario");
  t.notOk(options.Env?.includes("PATH=/host/bin"), "but not the caller's PATH");
  t.ok(options.Env?.includes("FIELDTEST_CONSOLE=/runs/alice/r/console.log"));
  const host = orchestratorContainerOptions({ ...request, network: "host" });
  t.equal(host.HostConfig?.NetworkMode, "host");
  t.notOk(host.HostConfig?.PortBindings, "on the host's network the website binds where it was asked");
});
