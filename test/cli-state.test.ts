// What the CLI leaves in the state directory: nothing for a namespace whose `up` failed or was
// refused, an error (not an empty listing) when the directory cannot be read, and `reap`
// removes the state of namespaces that expired and have nothing left.
import { access, mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import t from "tap";
import { agentsToDestroy } from "../src/targets/pulumi/pulumi-stack.ts";
import { isInstalledPackage, prepareStackProject, stackProjectDir } from "../src/targets/pulumi/stack-project.ts";
import { generateEd25519KeyPair, knownHostsLine } from "../src/transport/keys.ts";
import { portIsFree } from "../src/targets/docker-engine/ports.ts";
import { resolveScenarioPath, ScenarioError } from "../src/scenario/scenario.ts";
import { namespacesInState, NamespaceState } from "../src/targets/state.ts";
import { parse } from "yaml";
import { readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const exists = (path: string) => access(path).then(() => true, () => false);

t.test("a state directory that cannot be read is an error, a missing one is empty", async (t) => {
  const home = await tempHome(t);
  t.same(await namespacesInState(home), [], "no namespaces/ yet: no namespaces");
  await writeFile(join(home, "namespaces"), "not a directory");
  await t.rejects(namespacesInState(home), /the state directory .*namespaces cannot be read \(ENOTDIR/);
  const list = await runCli(["list"], { FIELDTEST_HOME: home });
  t.equal(list.code, 1, list.stderr);
  t.match(list.stderr, /the state directory .*namespaces cannot be read/);
});

t.test("an unknown --image is bad input and leaves no state", async (t) => {
  const home = await tempHome(t);
  const namespace = uniqueNamespace("img");
  const up = await runCli(["up", "--localhost", "--namespace", namespace, "--image", "nosuch"], { FIELDTEST_HOME: home });
  t.equal(up.code, 2, up.stderr);
  t.match(up.stderr, /image "nosuch": no nosuch\.Dockerfile in .*; known images: debian/);
  t.equal(await exists(join(home, "namespaces", namespace)), false, "no state directory");
});

t.test("a failed up leaves no state for the namespace it created", async (t) => {
  const home = await tempHome(t);
  const namespace = uniqueNamespace("fail");
  let port = 25000 + Math.floor(Math.random() * 2000);
  while (!(await portIsFree(port))) port++;
  // A host with a pinned key that nothing answers for: the up fails after the namespace's key was made.
  await writeFile(join(home, "operator_key"), generateEd25519KeyPair("operator").privateKey, { mode: 0o600 });
  await writeFile(join(home, "known_hosts"), `${knownHostsLine("127.0.0.1", port, generateEd25519KeyPair("host").publicKey)}\n`);
  const up = await runCli(
    ["up", "--ssh-host", `root@127.0.0.1:${port}`, "--ssh-key", join(home, "operator_key"), "--ssh-known-hosts", join(home, "known_hosts"), "--namespace", namespace],
    { FIELDTEST_HOME: home },
  );
  t.equal(up.code, 1, up.stderr);
  t.match(up.stderr, /ECONNREFUSED|connect/);
  t.equal(await exists(join(home, "namespaces", namespace)), false, "no state directory");
});

t.test("a dry-run destroy of a stack whose outputs cannot be read is an error, not 'no agents'", async (t) => {
  const unreadable = () => Promise.reject(new Error("reading the outputs of stack x failed: no such stack"));
  await t.rejects(agentsToDestroy(unreadable, true), /no such stack/);
  t.same(await agentsToDestroy(unreadable, false), [], "a real destroy goes on: a failed first update may still hold resources");
  t.same(await agentsToDestroy(async () => ({ agents: [{ name: "agent-001" }] }) as never, true), ["agent-001"]);
});

t.test("installed as a dependency, the Pulumi project lives in the state directory", async (t) => {
  const home = await tempHome(t);
  t.equal(isInstalledPackage("/work/app/node_modules/fieldtest"), true);
  t.equal(stackProjectDir({ env: { FIELDTEST_HOME: home }, packageRoot: "/work/app/node_modules/fieldtest" }), join(home, "pulumi"));
  t.equal(stackProjectDir({ env: { FIELDTEST_HOME: home }, packageRoot: ROOT }), ROOT, "fieldtest's own checkout keeps its stacks/");
  const dir = join(home, "pulumi");
  await prepareStackProject(dir, ROOT);
  const project = parse(await readFile(join(dir, "Pulumi.yaml"), "utf8")) as { name: string; main: string; stackConfigDir: string; runtime: { options: { nodeargs: string } } };
  t.equal(project.name, "fieldtest");
  t.equal(resolve(dir, project.main), join(ROOT, "infra"), "it runs the package's program");
  t.equal(project.stackConfigDir, "stacks");
  t.match(project.runtime.options.nodeargs, /^--import \/.*node_modules\/tsx\//);
  t.equal(await exists(join(dir, "stacks")), true);
});

t.test("scenario not found names each place it looked once", async (t) => {
  const error = await resolveScenarioPath("nosuch", ROOT, join(ROOT, "scenarios")).catch((e: unknown) => e);
  t.type(error, ScenarioError);
  t.equal((error as Error).message, `scenario "nosuch" not found; looked at ${join(ROOT, "scenarios", "nosuch.ts")}`);
});

const docker = await requireDocker(t);
if (docker) {
  t.test("reap removes the state of namespaces that expired and have nothing left, and only those", async (t) => {
    const home = await tempHome(t);
    const owner = `state-${randomBytes(4).toString("hex")}`;
    const expired = new NamespaceState(home, uniqueNamespace("gone"));
    const live = new NamespaceState(home, uniqueNamespace("live"));
    const old = new NamespaceState(home, uniqueNamespace("older"));
    await expired.writeExpiry(new Date(Date.now() - 60_000));
    await live.writeExpiry(new Date(Date.now() + 600_000));
    // No expiry recorded (an older fieldtest made it): left alone.
    await mkdir(old.dir, { recursive: true });
    const env = { FIELDTEST_HOME: home };
    const dry = await runCli(["reap", "--owner", owner, "--dry-run", "--json"], env);
    t.equal(dry.code, 0, dry.stderr);
    t.same(JSON.parse(dry.stdout).states, [expired.namespace]);
    t.equal(await exists(expired.dir), true, "the dry run removed nothing");
    const reap = await runCli(["reap", "--owner", owner], env);
    t.equal(reap.code, 0, reap.stderr);
    t.match(reap.stdout, new RegExp(`removed the state of 1 expired namespace\\(s\\): ${expired.namespace}`));
    t.equal(await exists(expired.dir), false);
    t.equal(await exists(live.dir), true);
    t.equal(await exists(old.dir), true);
  });
}
