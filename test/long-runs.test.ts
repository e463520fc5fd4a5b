// Long runs end to end on real agents: a detached runner, attach from another home through
// the fleet, Ctrl+D / Ctrl+C through a real pty (util-linux `script`), kill -9 of the
// attaching terminal and of the runner, fetch-run, dumps of a failing run, and a log cap
// under a 100 MB flood.
import t, { type Test } from "tap";
import { spawn } from "node:child_process";
import { copyFile, mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readExtendedExpiry } from "../src/targets/docker-engine/extension.ts";
import { namespaceContainers } from "../src/targets/docker-engine/provisioner.ts";
import { BIN, cleanupNamespace, containerCount, requireDocker, runCli, startCli, tempHome, uniqueNamespace, waitFor, waitForOutput, ROOT } from "./helpers/fleet.ts";

const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "long-run.mts");

/** `attach` in a real terminal: `script` gives it a pty, and bytes written here are keys. */
function attachInPty(args: string[], env: Record<string, string>) {
  const line = [process.execPath, BIN, "attach", ...args].map((a) => `'${a}'`).join(" ");
  const child = spawn("script", ["-qfec", line, "/dev/null"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return Object.assign(child, { output: () => output, exited });
}

/** Docker, a state directory and a namespace of the test's own, removed when it ends. */
async function namespaceOfTest(t: Test, prefix: string) {
  const docker = await requireDocker(t);
  if (!docker) return undefined;
  const home = await tempHome(t);
  const namespace = uniqueNamespace(prefix);
  cleanupNamespace(t, docker, namespace);
  return { docker, home, namespace, env: { FIELDTEST_HOME: home } };
}

t.test("detach, attach from anywhere, Ctrl+D, kill -9, fetch-run, Ctrl+C", async (t) => {
  const fleet = await namespaceOfTest(t, "lr");
  if (!fleet) return;
  const { docker, home, namespace, env } = fleet;
  const up = await runCli(["up", "--localhost", "--namespace", namespace, "--vms", "2", "--ttl", "10m"], env);
  t.equal(up.code, 0, up.stderr);

  const detached = await runCli(["run", SCENARIO, "--namespace", namespace, "--detach", "--daemon-output", "errors"], { ...env, LONG_RUN_SECONDS: "8" });
  t.equal(detached.code, 0, detached.stderr);
  const runId = /run (\S+) started/.exec(detached.stdout)?.[1] ?? "";
  t.ok(runId, detached.stdout);

  // Ctrl+D in a terminal detaches; the run goes on.
  const first = attachInPty(["--namespace", namespace], env);
  await waitForOutput(first, /step \d+/, "the run's output", 20_000);
  first.stdin.write("\u0004");
  t.equal(await first.exited, 0);
  t.match(first.output(), /detached; run \S+ goes on/);

  // kill -9 of an attached terminal leaves the run alone.
  const second = startCli(["attach", "--namespace", namespace], env);
  await waitForOutput(second, /attached to run/, "attach", 20_000);
  second.kill("SIGKILL");

  // Another working directory and a FIELDTEST_HOME with nothing but the inventory and the key.
  const inventory = await runCli(["inventory", "--namespace", namespace], env);
  const elsewhere = await mkdtemp(join(home, "elsewhere-"));
  const otherHome = await mkdtemp(join(home, "other-home-"));
  await writeFile(join(elsewhere, "fleet.json"), inventory.stdout);
  await copyFile(join(home, "namespaces", namespace, "id_ed25519"), join(elsewhere, "key"));
  const remote = ["--inventory", join(elsewhere, "fleet.json"), "--ssh-key", join(elsewhere, "key")];
  const otherEnv = { FIELDTEST_HOME: otherHome, FIELDTEST_RUNS_DIR: join(elsewhere, "runs") };
  const followed = await runCli(["attach", ...remote], otherEnv, elsewhere);
  t.equal(followed.code, 0, followed.stderr);
  t.match(followed.stderr, new RegExp(`run ${runId} passed`));
  t.match(followed.stdout, /\[scenario\/log\] step \d+/);
  t.notMatch(followed.stdout, /\[agent-001\/ticker\] tick/, "--daemon-output errors keeps daemon chatter off the console");

  const runs = await runCli(["runs", ...remote, "--json"], otherEnv, elsewhere);
  const listed = (JSON.parse(runs.stdout) as { id: string; result: string; agents: string[]; phase: string }[]).find((r) => r.id === runId);
  t.match(listed, { result: "passed", agents: ["agent-001", "agent-002"], phase: "done" });

  const fetched = await runCli(["fetch-run", ...remote], otherEnv, elsewhere);
  t.equal(fetched.code, 0, fetched.stderr);
  const dir = fetched.stdout.trim();
  t.equal(dir, join(elsewhere, "runs", namespace, runId));
  for (const file of ["config.json", "inventory.json", "history.jsonl", "result.json", "status.json", "console.log", "logs/agent-001-ticker.log", "logs/agent-002-ticker.log"]) {
    t.ok(await stat(join(dir, file)).catch(() => undefined), `fetched ${file}`);
  }
  const local = join(home, "runs", namespace, runId);
  t.equal(await readFile(join(dir, "history.jsonl"), "utf8"), await readFile(join(local, "history.jsonl"), "utf8"), "the fetched history is the runner's");
  t.match(JSON.parse(await readFile(join(dir, "result.json"), "utf8")), { status: "passed", checks: { valid: true } });
  const again = await runCli(["fetch-run", ...remote], otherEnv, elsewhere);
  t.match(again.stderr, /0 file\(s\), 0 bytes fetched/, "a second fetch-run is incremental");
  const check = await runCli(["check", dir], otherEnv, elsewhere);
  t.match(check.stdout, /register: valid/);

  // Ctrl+C while attached asks the run to stop: scenario cleanup, a dump, the end.
  const long = await runCli(["run", SCENARIO, "--namespace", namespace, "--detach"], { ...env, LONG_RUN_SECONDS: "120" });
  const longId = /run (\S+) started/.exec(long.stdout)?.[1] ?? "";
  const third = attachInPty(["--namespace", namespace, "--run", longId], env);
  await waitForOutput(third, /step \d+/, "the long run's output", 20_000);
  third.stdin.write("\u0003");
  t.equal(await third.exited, 130, third.output());
  t.match(third.output(), /asking the run to stop gracefully/);
  const stopped = join(home, "runs", namespace, longId);
  t.match(JSON.parse(await readFile(join(stopped, "status.json"), "utf8")), { result: "interrupted", final: true });
  const dumps = await readdir(join(stopped, "dumps"));
  t.match(dumps, [/-stopped$/]);

  // `fieldtest stop` from the other home: the same graceful end, and it waits for it.
  const last = await runCli(["run", SCENARIO, "--namespace", namespace, "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "120" });
  const { runId: lastId, runDir } = JSON.parse(last.stdout) as { runId: string; runDir: string };
  const stop = await runCli(["stop", ...remote, "--run", lastId], otherEnv, elsewhere);
  t.equal(stop.code, 0, stop.stderr);
  t.match(stop.stderr, new RegExp(`run ${lastId} ended: interrupted`));
  t.match(JSON.parse(await readFile(join(runDir, "status.json"), "utf8")), { result: "interrupted", final: true });
});

t.test("docker kill of the orchestrator: the history ends with what happened, the TTL removes agents and orchestrator", async (t) => {
  const fleet = await namespaceOfTest(t, "lrk");
  if (!fleet) return;
  const { docker, home, namespace, env } = fleet;
  const detached = await runCli(["run", SCENARIO, "--localhost", "--namespace", namespace, "--ttl", "40s", "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "120" });
  t.equal(detached.code, 0, detached.stderr);
  const { runId, runDir: dir, container } = JSON.parse(detached.stdout) as { runId: string; runDir: string; container: string };
  t.equal(dir, join(home, "runs", namespace, runId));

  // The runner is a resource of the namespace, labelled and timed like its agents.
  const info = await docker.getContainer(container).inspect();
  const agent = (await namespaceContainers(docker, namespace)).find((c) => c.Labels["fieldtest-agent"] === "agent-001");
  t.match(info.Config.Labels, { "fieldtest-namespace": namespace, "fieldtest-role": "orchestrator", "fieldtest-run": runId, "fieldtest-owner": agent?.Labels["fieldtest-owner"], "fieldtest-expires-at": agent?.Labels["fieldtest-expires-at"] });
  t.equal(info.HostConfig.NetworkMode, `fieldtest-${namespace}`, "on the namespace's network, as the agents are");
  t.notOk((info.HostConfig.Binds ?? []).some((bind) => bind.includes("docker.sock")), "no Docker socket");
  t.ok((info.HostConfig.Binds ?? []).includes(`${dir}:${dir}`), "the run directory is the one writable mount besides the namespace's state");

  await waitFor("operations in the history", async () => ((await readFile(join(dir, "history.jsonl"), "utf8")).includes('"f":"read"') ? true : undefined), 30_000);
  const extend = await runCli(["extend", "--namespace", namespace, "--ttl", "45s", "--json"], env);
  t.equal(extend.code, 0, extend.stderr);
  const { expiresAt } = JSON.parse(extend.stdout) as { expiresAt: string };
  t.equal((await readExtendedExpiry(docker, container))?.getTime(), Math.floor(Date.parse(expiresAt) / 1000) * 1000, "extend moves the orchestrator's expiry with the agents'");
  await docker.getContainer(container).kill({ signal: "SIGKILL" });
  const text = await readFile(join(dir, "history.jsonl"), "utf8");
  const lines = text.split("\n").filter(Boolean);
  const complete = text.endsWith("\n") ? lines : lines.slice(0, -1);
  const entries = complete.map((line) => JSON.parse(line) as { kind: string; type: string; data?: { phase?: string } });
  t.ok(lines.length - complete.length <= 1, "at most the last line is torn");
  t.match(entries[0], { kind: "header" });
  t.ok(entries.some((e) => e.type === "phase" && e.data?.phase === "running"));
  t.ok(entries.some((e) => e.type === "daemon-start"));
  t.notOk(entries.some((e) => e.type === "result"), "the runner never got to record a result");
  await waitFor("the orchestrator to be removed", async () => ((await docker.getContainer(container).inspect().then(() => false, () => true)) ? true : undefined), 20_000, 200);
  const stale = await waitFor(
    "runs to call the run stale",
    async () => {
      const runs = JSON.parse((await runCli(["runs", "--namespace", namespace, "--json"], env)).stdout) as { id: string; final: boolean; stale: boolean }[];
      return runs.find((r) => r.id === runId && r.stale);
    },
    60_000,
    2000,
  );
  t.match(stale, { final: false, stale: true }, "runs says the runner went silent");
  await waitFor("the agents to expire", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 90_000, 500);
});

t.test("a detached run that made its fleet ends it from the orchestrator; the TTL removes an orchestrator left behind", async (t) => {
  const fleet = await namespaceOfTest(t, "lro");
  if (!fleet) return;
  const { docker, home, namespace, env } = fleet;
  const detached = await runCli(["run", SCENARIO, "--localhost", "--namespace", namespace, "--vms", "2", "--website", "--website-port", "0", "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "8" });
  t.equal(detached.code, 0, detached.stderr);
  const { runDir, website } = JSON.parse(detached.stdout) as { runDir: string; website: string };
  t.match(website, /^http:\/\/127\.0\.0\.1:\d+$/, "the website is published on this machine's loopback");
  const state = (await (await fetch(`${website}/api/state`)).json()) as { namespace: string; scenario: string };
  t.match(state, { namespace, scenario: "long-run" }, "the run's website answers from the orchestrator");
  await waitFor("every container of the namespace to go", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 60_000, 500);
  t.match(JSON.parse(await readFile(join(runDir, "status.json"), "utf8")), { result: "passed", final: true });
  t.match(await readFile(join(runDir, "console.log"), "utf8"), /ending the agents of namespace/);

  // An orchestrator whose runner never ends (a kept fleet, --keep-alive) still goes at the TTL, with its agents.
  const kept = await runCli(["run", SCENARIO, "--localhost", "--keep", "--keep-alive", "--namespace", namespace, "--ttl", "25s", "--detach", "--json"], { ...env, LONG_RUN_SECONDS: "1" });
  t.equal(kept.code, 0, kept.stderr);
  const { container } = JSON.parse(kept.stdout) as { container: string };
  t.ok(await docker.getContainer(container).inspect(), "the orchestrator runs");
  await waitFor("the TTL to remove agents and orchestrator", async () => ((await containerCount(docker, namespace)) === 0 ? true : undefined), 90_000, 500);
});

t.test("a failing run dumps every agent; a 100 MB flood stays within the log cap", async (t) => {
  const docker = await requireDocker(t);
  if (!docker) return;
  const home = await tempHome(t);
  const namespace = uniqueNamespace("lrf");
  cleanupNamespace(t, docker, namespace);
  const run = await runCli(["run", SCENARIO, "--localhost", "--namespace", namespace, "--log-cap", "4MB", "--json"], { FIELDTEST_HOME: home, LONG_RUN_FAIL: "1", LONG_RUN_CHATTY_MB: "100" });
  t.equal(run.code, 1, run.stderr);
  const outcome = JSON.parse(run.stdout) as { runDir: string; error: string };
  t.match(outcome.error, /failing on purpose/);
  const logs = join(outcome.runDir, "logs");
  const sizes = await Promise.all(["agent-001-chatty.log", "agent-001-chatty.log.1"].map((f) => stat(join(logs, f)).then((s) => s.size)));
  t.ok(sizes[0]! + sizes[1]! <= 4 * 1024 * 1024, `chatty log ${sizes.join(" + ")} bytes within 4MB`);
  const result = JSON.parse(await readFile(join(outcome.runDir, "result.json"), "utf8")) as { logs: { path: string; droppedBytes: number; capBytes: number; writtenBytes: number }[] };
  const chatty = result.logs.find((l) => l.path.endsWith("agent-001-chatty.log"));
  t.match(chatty, { capBytes: 4 * 1024 * 1024 });
  t.ok(chatty!.writtenBytes >= 100 * 1024 * 1024, "all 100 MB went through the capture");
  t.ok(chatty!.droppedBytes > 90 * 1024 * 1024, "what the cap dropped is recorded");
  t.notMatch(run.stderr, /xxxxxxxxxx/, "the flood (output: none) stayed off the console");

  t.match(await readFile(join(logs, "agent-001-flaky.log"), "utf8"), /flaky up\n.*fieldtest: restarting flaky \(restart 1, last exit code 3\)\n.*flaky up\n/s, "the restart is marked in the log");
  const events = (await readFile(join(outcome.runDir, "history.jsonl"), "utf8")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; data?: { daemon?: string; final?: boolean } });
  t.same(events.filter((e) => e.data?.daemon === "flaky").map((e) => `${e.type}${e.data?.final ? " (final)" : ""}`), ["daemon-start", "daemon-exit", "daemon-restart", "daemon-start", "daemon-gave-up", "daemon-exit (final)"], "the restart policy giving up is an event of its own");
  t.ok(events.some((e) => e.type === "dump"), "the dump is in the history");

  const [dump] = await readdir(join(outcome.runDir, "dumps"));
  t.match(dump, /-failed$/);
  for (const agent of ["agent-001", "agent-002"]) {
    const files = await readdir(join(outcome.runDir, "dumps", dump!, agent), { recursive: true });
    for (const file of ["ps.txt", "df.txt", "dmesg-tail.txt", `logs/${agent}-ticker.log`, "files/etc/hostname"]) t.ok(files.includes(file), `${agent} dump holds ${file}`);
  }
  t.match(await readFile(join(outcome.runDir, "dumps", dump!, "agent-001", "ps.txt"), "utf8"), /sshd/);
});
