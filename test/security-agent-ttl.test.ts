// Issue 23, item 2: an agent cannot extend its own life, nor break `fieldtest list` for every user
// of the engine, by writing the in-container expiry file. The attacks are commands run as root
// inside real agent containers; the reaper and `list` are the real ones.
import { randomBytes } from "node:crypto";
import t from "tap";
import type Docker from "dockerode";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, requireDocker, runCli, tempHome, uniqueNamespace, waitFor } from "./helpers/fleet.ts";

/** Runs a shell script as root in the container, as a compromised daemon would. */
async function inContainer(docker: Docker, id: string, script: string): Promise<void> {
  const exec = await docker.getContainer(id).exec({ Cmd: ["bash", "-c", script], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  await new Promise((resolve) => stream.on("end", resolve).resume());
  const { ExitCode } = await exec.inspect();
  if (ExitCode !== 0) throw new Error(`${script} exited with ${ExitCode}`);
}

t.test("an agent that rewrites its expiry file is still removed at its TTL, and list still works", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const home = await tempHome(t);
  const namespace = uniqueNamespace("ttl");
  cleanupNamespace(t, docker, namespace);
  // An owner of its own: this test's reaper runs the image built from this checkout.
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "", FIELDTEST_OWNER: `sec-${randomBytes(4).toString("hex")}` };
  const up = await runCli(["up", "--localhost", "--namespace", namespace, "--vms", "2", "--ttl", "45s"], env);
  t.equal(up.code, 0, up.stderr);
  const containers = await namespaceContainers(docker, namespace);
  const byAgent = (name: string) => containers.find((c) => c.Labels["fieldtest-agent"] === name)!;
  const labelExpiry = Number(byAgent("agent-001").Labels["fieldtest-expires-at"]);

  const farFuture = Math.floor(Date.now() / 1000) + 86_400;
  await inContainer(docker, byAgent("agent-001").Id, `echo ${farFuture} > /var/lib/fieldtest/expires-at`);
  // A directory in place of the file, holding a 700 MB (sparse) file: more than one string can hold.
  await inContainer(docker, byAgent("agent-002").Id, "f=/var/lib/fieldtest/expires-at && rm -f $f && mkdir $f && truncate -s 700M $f/big");

  const list = await runCli(["list", "--namespace", namespace, "--json"], env);
  t.equal(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout || "[]") as { name: string; expiresAt: string }[];
  t.same(rows.map((r) => [r.name, Date.parse(r.expiresAt) / 1000]), [["agent-001", labelExpiry], ["agent-002", labelExpiry]], "list shows the expiry the runner granted");

  // The TTL, the reaper's interval, and some slack for a loaded machine.
  const gone = await waitFor("the agents removed at their TTL", async () => ((await namespaceContainers(docker, namespace)).length === 0 ? true : undefined), (labelExpiry * 1000 - Date.now()) + 30_000, 1000).catch(() => false);
  t.ok(gone, "no container outlives the TTL the runner granted");
});
