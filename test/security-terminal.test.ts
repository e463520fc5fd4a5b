// Issue 23, item 5: escape sequences from an agent reach the user's terminal only as visible
// text. The daemon runs in a real agent under the real `fieldtest run`; the console `attach`
// shows is one a compromised first agent rewrote.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { cleanupNamespace, requireDocker, ROOT, runCli, tempHome, uniqueNamespace } from "./helpers/fleet.ts";

const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "escapes.mts");
/** C0 controls but tab and newline, DEL, and C1 controls: none may reach the terminal raw. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

t.test("run and attach show an agent's escape sequences visibly; the log file keeps them", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const home = await tempHome(t);
  const namespace = uniqueNamespace("esc");
  cleanupNamespace(t, docker, namespace);
  const env = { FIELDTEST_HOME: home, FIELDTEST_NAMESPACE: "" };

  const run = await runCli(["run", SCENARIO, "--localhost", "--keep", "--namespace", namespace], env);
  t.equal(run.code, 0, run.stderr);
  t.notMatch(run.stdout, RAW_CONTROL, "no raw control character on the console");
  t.match(run.stdout, "[agent-001/evil] a\\x1b]52;c;cHduZWQ=\\x07b");
  t.match(run.stdout, "e\\x0d\\x1b[2Kfieldtest: run passed", "the fake verdict stays on the daemon's line, visibly");
  t.match(run.stdout, "scenario line with \\x1b[31mcolour");
  const runId = (await runCli(["runs", "--namespace", namespace, "--json"], env)).stdout.match(/"id": "([^"]+)"/)?.[1] ?? "";
  const log = await readFile(join(home, "runs", namespace, runId, "logs", "agent-001-evil.log"), "utf8");
  t.match(log, "a\u001b]52;c;cHduZWQ=\u0007b", "the log file keeps the raw bytes");
  t.equal((await stat(join(home, "runs", namespace, runId, "status.json"))).mode & 0o777, 0o600, "a normal run's status.json is the owner's alone (item 8)");

  // The first agent rewrites the console of a run it mirrors.
  const [agent] = (await namespaceContainers(docker, namespace)).filter((c) => c.Labels["fieldtest-agent"] === "agent-001");
  const id = "20991231-235959-e5c0";
  const status = JSON.stringify({ id, namespace, scenario: "x", phase: "done\u001b]0;owned\u0007", result: "failed", error: "boom\u001b[2J", startedAt: "2099-12-31T00:00:00Z", updatedAt: "2099-12-31T00:00:00Z", expiresAt: "2099-12-31T00:00:00Z", agents: [], detached: true, runner: { host: "x", pid: 1 }, final: true });
  const exec = await docker.getContainer(agent!.Id).exec({
    AttachStdout: true,
    AttachStderr: true,
    Cmd: ["bash", "-c", `d=/root/.fieldtest/runs/${id} && mkdir -p $d && cat > $d/status.json <<'EOF'\n${status}\nEOF\nprintf 'x\\033]52;c;cHduZWQ=\\007\\r\\033[2Kfieldtest: run passed\\n' > $d/console.log`],
  });
  const stream = await exec.start({});
  await new Promise((resolve) => stream.on("end", resolve).resume());
  const attach = await runCli(["attach", "--namespace", namespace, "--run", id], env);
  t.equal(attach.code, 1, attach.stderr);
  t.notMatch(attach.stdout + attach.stderr, RAW_CONTROL, "no raw control character from the agent's console or status");
  t.match(attach.stdout, "x\\x1b]52;c;cHduZWQ=\\x07\\x0d\\x1b[2Kfieldtest: run passed");
});
