// Runner homes without an engine or a host: the home chosen from a target's descriptor, and the
// run-spec.json each home stages naming only paths that home can see.
import { join, posix } from "node:path";
import t from "tap";
import { parseInventory, type Inventory } from "../src/core/inventory.ts";
import { runnerHomeOfInventory } from "../src/targets/registry.ts";
import type { RunnerHome } from "../src/targets/target.ts";
import { agentProcessSpec } from "../src/runs/homes/agent-process.ts";
import { sshHostSpec, thisMachineReadOnly, thisMachineSpec } from "../src/runs/homes/engine-home.ts";
import { localProcessSpec } from "../src/runs/homes/local-process.ts";
import { remoteRunLayout } from "../src/runs/homes/remote-runner.ts";
import { chooseRunnerHome, type DetachedRun } from "../src/runs/homes/runner-home.ts";
import { parseRunSpec, type RunSpec } from "../src/runs/spec.ts";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE";

function fleet(target: Inventory["target"], groups: string[]): Inventory {
  return parseInventory({
    namespace: "alice",
    target,
    createdAt: "2026-12-01T00:00:00Z",
    expiresAt: "2026-12-02T00:00:00Z",
    agents: groups.map((group, i) => ({ name: `${group}-00${i + 1}`, group, host: "10.0.0.9", sshPort: 22, user: "fieldtest", hostKey: HOST_KEY, portRange: [30000, 30099] })),
  });
}

t.test("the home from the target's descriptor", async (t) => {
  const withAgent = fleet("gcp", ["agent", "orchestrator"]);
  const bare = fleet("gcp", ["agent"]);
  const sshHost: RunnerHome = { home: "engine-container", engine: "ssh-host", hosts: [{ user: "root", host: "h", port: 22, hostKey: HOST_KEY }], operatorKeyPath: "/k" };
  const local = { localObservation: false };
  const prometheus = { localObservation: true };

  t.same(chooseRunnerHome({ home: "engine-container", engine: "this-machine" }, local), { home: "engine-container", engine: "this-machine" }, "a localhost namespace: this machine's engine");
  t.same(chooseRunnerHome(sshHost, local), sshHost, "an SSH-hosts namespace: its first host's engine");
  t.match(chooseRunnerHome(runnerHomeOfInventory(withAgent), local), { home: "agent-process", agent: { name: "orchestrator-002" } }, "a cloud fleet with a runner agent: a process there");
  t.match(chooseRunnerHome(runnerHomeOfInventory(bare), local), { home: "local-process", why: /has no orchestrator agent/ }, "a cloud fleet without one: here, saying how to add one");

  // An inventory file: its runner agent whatever its target, else no engine (no record reaches one).
  const localFile = fleet("localhost", ["agent", "orchestrator"]);
  t.match(chooseRunnerHome(runnerHomeOfInventory(localFile), { ...local, inventoryFile: localFile }), { home: "agent-process", agent: { name: "orchestrator-002" } });
  const localBare = fleet("localhost", ["agent"]);
  t.same(chooseRunnerHome(runnerHomeOfInventory(localBare), { ...local, inventoryFile: localBare }), { home: "local-process" });

  // --prometheus keeps every runner here, and says instead of what.
  t.match(chooseRunnerHome({ home: "engine-container", engine: "this-machine" }, prometheus), { home: "local-process", why: /--prometheus .* not a runner container/ });
  t.match(chooseRunnerHome(sshHost, prometheus), { home: "local-process", why: /not a runner container/ });
  t.match(chooseRunnerHome(runnerHomeOfInventory(withAgent), prometheus), { home: "local-process", why: /not on orchestrator-002/ });
});

/** Every path a staged spec names. */
function specPaths(spec: RunSpec): string[] {
  const tls = spec.observation.website?.tls;
  const fleetPaths = spec.fleet.kind === "localhost" ? [] : [...(spec.fleet.kind === "inventory" ? [spec.fleet.path] : []), ...(spec.fleet.keyPath ? [spec.fleet.keyPath] : [])];
  return [spec.scenario, spec.observation.runsDir, ...fleetPaths, ...(tls ? [tls.certPath, tls.keyPath] : [])];
}

const inside = (path: string, dirs: readonly string[]) => dirs.some((dir) => path === dir || path.startsWith(`${dir}/`));

t.test("each home's run-spec.json names only paths that home sees", async (t) => {
  const cwd = "/home/me/project";
  const local = parseRunSpec({
    scenario: "./scenarios/s.ts",
    params: { pairs: [], values: { label: "x" }, valuesSource: "--params ./params.json" },
    fleet: { kind: "namespace", namespace: "alice", keyPath: "./keys/id" },
    teardown: "keep",
    observation: { runsDir: "runs", website: { port: 8080, tls: { certPath: "tls/cert.pem", keyPath: "tls/key.pem" } } },
  });
  const run: DetachedRun = { spec: local, runId: "20261201-000000-abcd", namespace: "alice", scenarioPath: join(cwd, "scenarios", "s.ts"), websitePortGiven: false };
  const staged = { inventory: fleet("ssh", ["agent"]), keyPath: join(cwd, "keys", "id"), privateKey: "k", teardown: "keep" as const };

  // A local process: this machine's paths, absolute (its cwd may differ from the runner's).
  const processSpec = localProcessSpec(run, cwd);
  t.ok(specPaths(processSpec).every((p) => p.startsWith(`${cwd}/`)), `absolute under the project: ${specPaths(processSpec).join(", ")}`);
  t.same(processSpec.fleet, { kind: "namespace", namespace: "alice", keyPath: join(cwd, "keys", "id") }, "it runs on the spec's own fleet");
  t.match(processSpec, { detached: true, observation: { runId: run.runId } });

  // A container on this machine's engine: what it mounts (read-only, and the run directory read-write).
  const { spec: containerSpec } = thisMachineSpec(run, staged, cwd, "own");
  const runDir = join(cwd, "runs", "alice", run.runId);
  const packageRoot = join(import.meta.dirname, "..");
  const mounts = [...thisMachineReadOnly(packageRoot, containerSpec), runDir];
  const containerPaths = specPaths(containerSpec).filter((p) => p !== containerSpec.observation.runsDir);
  t.ok(containerPaths.every((p) => inside(p, mounts)), `inside the mounts ${mounts.join(", ")}: ${containerPaths.join(", ")}`);
  t.ok(inside(join(containerSpec.observation.runsDir, "alice", run.runId), mounts), "the run directory it writes is mounted");
  t.match(containerSpec, { fleet: { kind: "inventory", path: join(runDir, "runner-inventory.json") }, observation: { website: { host: "0.0.0.0", port: 8080, allowUnauthenticatedRemote: true }, fleetWebsite: true } });

  // A container on an SSH host's engine: only the namespace's state there, as the container mounts it.
  const nsDir = "/home/op/.fieldtest/namespaces/alice";
  const layout = remoteRunLayout(nsDir, "alice", run.runId);
  const code = { codeDir: `${nsDir}/orchestrator/c0de`, scenarioPath: `${nsDir}/orchestrator/c0de/scenario.mjs` };
  const tls = { certPath: `${nsDir}/orchestrator/7150/1-cert.pem`, keyPath: `${nsDir}/orchestrator/7150/2-key.pem` };
  const hostSpec = sshHostSpec(run, layout, code, { teardown: "keep", network: "host", tls });
  const hostMounts = [code.codeDir, layout.keyPath, posix.dirname(tls.certPath), layout.runsDir, layout.home];
  t.ok(specPaths(hostSpec).every((p) => inside(p, hostMounts)), `inside the container's mounts: ${specPaths(hostSpec).join(", ")}`);
  t.match(hostSpec.observation, { website: { port: 0 }, fleetWebsite: true }, "on the host's network, a free port");
  t.equal(layout.specPath, `${layout.runDir}/run-spec.json`);

  // A process on the runner agent: only the namespace's state on the agent.
  const agentSpec = agentProcessSpec({ ...run, websitePortGiven: true }, layout, code, { teardown: "end-agents", agent: "orchestrator-001", tls });
  t.ok(specPaths(agentSpec).every((p) => p.startsWith(`${nsDir}/`)), `in the namespace's state on the agent: ${specPaths(agentSpec).join(", ")}`);
  t.match(agentSpec, { teardown: "end-agents", observation: { website: { port: 8080 }, fleetWebsite: { via: "orchestrator-001" } } });
  for (const spec of [containerSpec, hostSpec, agentSpec]) t.notMatch(JSON.stringify(specPaths(spec)), /\.\/|"(runs|tls)\//, "no relative path of this machine");
});
