// The registry is the one place that knows the targets and opens a namespace as its record's
// target; records of older fieldtests (ssh-fleet.json, pulumi-stack.json) are read as the same pair.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import t from "tap";
import { TARGETS } from "../src/core/inventory.ts";
import { namespaceSchema, type Namespace } from "../src/core/namespace.ts";
import type { TargetContext } from "../src/targets/context.ts";
import { allTargets, cloudTargets, openNamespace, targetNamed } from "../src/targets/registry.ts";
import { NamespaceState } from "../src/targets/state.ts";
import { tempHome, uniqueNamespace } from "./helpers/fleet.ts";

function contextFor(home: string): TargetContext {
  return {
    env: { FIELDTEST_HOME: home },
    packageRoot: join(home, "package"),
    docker: () => {
      throw new Error("no Docker engine is asked for in these tests");
    },
    stderr: new Writable({ write: (_chunk, _encoding, done) => done() }),
  };
}

async function writeStateFile(home: string, namespace: Namespace, name: string, json: unknown): Promise<void> {
  const dir = join(home, "namespaces", namespace);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, name), JSON.stringify(json));
}

const sshRecord = (home: string) => ({ hosts: [{ user: "root", host: "10.0.0.5", port: 22, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA" }], operatorKeyPath: join(home, "operator_key") });

t.test("every registered target implements the interface, under the name it is registered by", async (t) => {
  t.same(allTargets().map((target) => target.name).sort(), [...TARGETS].sort(), "one target per inventory target name");
  for (const target of allTargets()) {
    t.equal(targetNamed(target.name), target, `${target.name} is found by its name`);
    for (const method of ["plan", "up", "open", "runnerHome", "listed"] as const) t.type(target[method], "function", `${target.name}.${method}`);
    t.type(target.reaper.reap, "function", `${target.name}.reaper.reap`);
    t.ok(target.where && target.upFlag, `${target.name} says where its agents are and which flag chooses it`);
    t.type(target.recordSchema.safeParse, "function", `${target.name} has a record schema`);
  }
  t.same(cloudTargets().map((target) => target.name).sort(), ["aws", "gcp"]);
});

t.test("an unknown target name is a clear error that lists the known ones", async (t) => {
  t.throws(() => targetNamed("hetzner"), /target "hetzner" is not a fieldtest target; the targets are ssh, localhost, gcp, aws/);
  t.throws(() => targetNamed("toString"), /is not a fieldtest target/, "not a property of every object");
});

t.test("a record naming an unknown target is refused, naming the file and the target", async (t) => {
  const home = await tempHome(t);
  const namespace = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, namespace, "target.json", { target: "hetzner", record: {} });
  await t.rejects(openNamespace(contextFor(home), namespace), new RegExp(`namespace ${namespace}: .*${namespace} names the target "hetzner" is not a fieldtest target; the targets are ssh, localhost, gcp, aws`));
});

t.test("a record its target's schema refuses says which field, and how to get out", async (t) => {
  const home = await tempHome(t);
  const namespace = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, namespace, "target.json", { target: "ssh", record: { hosts: [], operatorKeyPath: "/k" } });
  await t.rejects(openNamespace(contextFor(home), namespace), /the record of its ssh target in .* is not valid \(hosts: .*\); fix it, or remove the directory if the fleet is gone/);
  await writeStateFile(home, namespace, "target.json", { record: {} });
  await t.rejects(openNamespace(contextFor(home), namespace), /target\.json: "target" must name the namespace's target/);
});

t.test("a namespace without a record is on this machine's engine", async (t) => {
  const home = await tempHome(t);
  const opened = await openNamespace(contextFor(home), namespaceSchema.parse(uniqueNamespace("reg")));
  t.equal(opened.target.name, "localhost");
  t.same(opened.runnerHome(), { home: "engine-container", engine: "this-machine" });
});

t.test("a record written now is read back as its target, with the target's record", async (t) => {
  const home = await tempHome(t);
  const namespace = namespaceSchema.parse(uniqueNamespace("reg"));
  await new NamespaceState(home, namespace).writeTargetRecord({ target: "ssh", record: sshRecord(home) });
  const opened = await openNamespace(contextFor(home), namespace);
  t.equal(opened.target.name, "ssh");
  t.same(opened.runnerHome(), { home: "engine-container", engine: "ssh-host", ...sshRecord(home) });
});

t.test("an SSH-hosts record of an older fieldtest (ssh-fleet.json) is read as the ssh target", async (t) => {
  const home = await tempHome(t);
  const namespace = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, namespace, "ssh-fleet.json", { target: "ssh", ...sshRecord(home) });
  const opened = await openNamespace(contextFor(home), namespace);
  t.equal(opened.target.name, "ssh");
  t.same(opened.runnerHome(), { home: "engine-container", engine: "ssh-host", ...sshRecord(home) }, "its hosts and key are the record's");
  t.equal(await opened.holding(targetNamed("localhost")), `holds agents on SSH hosts (root@10.0.0.5:22)`);
});

t.test("a Pulumi stack record of an older fieldtest (pulumi-stack.json) is read as its cloud's target", async (t) => {
  const home = await tempHome(t);
  const namespace = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, namespace, "pulumi-stack.json", { target: "pulumi", cloud: "aws", stack: namespace, projectDir: join(home, "project") });
  const opened = await openNamespace(contextFor(home), namespace);
  t.equal(opened.target.name, "aws");
  t.match(await opened.summary(), { namespace, target: "aws", agents: null, note: `Pulumi stack ${namespace}: list --namespace ${namespace} reads it` });
  t.match(opened.runnerHome(), { home: "local-process", why: new RegExp(`namespace ${namespace} has no orchestrator agent`) });
});

t.test("older records that cannot be read say which file and what to do", async (t) => {
  const home = await tempHome(t);
  const both = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, both, "ssh-fleet.json", { target: "ssh", ...sshRecord(home) });
  await writeStateFile(home, both, "pulumi-stack.json", { target: "pulumi", cloud: "gcp", stack: both, projectDir: "/p" });
  await t.rejects(openNamespace(contextFor(home), both), /has both .*pulumi-stack\.json and .*ssh-fleet\.json: remove the one that is stale/);
  const cloudless = namespaceSchema.parse(uniqueNamespace("reg"));
  await writeStateFile(home, cloudless, "pulumi-stack.json", { target: "pulumi", stack: cloudless, projectDir: "/p" });
  await t.rejects(openNamespace(contextFor(home), cloudless), /pulumi-stack\.json: "cloud" is missing/);
});
