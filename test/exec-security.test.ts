import { randomBytes } from "node:crypto";
import t from "tap";
import { ExecError, ExecOutputLimitError } from "../src/transport/exec.ts";
import { requireDocker, testFleet } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 1, { portsPerAgent: 2 });
  const [a] = fleet.cloud.agents;

  t.test("env values reach the command but no argv on the agent", async (t) => {
    const secret = `tok-${randomBytes(8).toString("hex")}`;
    // Not ending in the sleep, so the shell stays (a last simple command would be exec'd, argv and all).
    const running = a!.exec('echo "$API_TOKEN"; sleep 2; echo end', { env: { API_TOKEN: secret }, timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 700));
    const { stdout: ps } = await a!.exec(["ps", "-eo", "args"]);
    t.match(ps, /sleep 2/, "the command was running while ps looked");
    t.notMatch(ps, secret, "the value is in no process's arguments");
    t.equal((await running).stdout, `${secret}\nend\n`);
    const both = await a!.exec('printf "%s|" "$OTHER"; cat', { env: { OTHER: "it's\n$two lines" }, input: "stdin after env" });
    t.equal(both.stdout, "it's\n$two lines|stdin after env", "quotes and newlines survive, and the command still gets its stdin");
  });

  t.test("a daemon's env values reach it but no argv on the agent", async (t) => {
    const secret = `tok-${randomBytes(8).toString("hex")}`;
    const lines: string[] = [];
    const daemon = await a!.spawn('[ "$API_TOKEN" = "$EXPECTED_HASH_SOURCE" ] && echo same; sleep 30; echo end', {
      name: "env-daemon",
      env: { API_TOKEN: secret, EXPECTED_HASH_SOURCE: secret },
      onLine: (line) => lines.push(line.line),
    });
    t.teardown(() => daemon.stop({ graceMs: 100 }).then(() => {}));
    const deadline = Date.now() + 10_000;
    while (!lines.includes("same") && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    t.same(lines, ["same"], "the daemon saw the value");
    const { stdout: ps } = await a!.exec(["ps", "-eo", "args"]);
    t.match(ps, /sleep 30/, "the daemon was running while ps looked");
    t.notMatch(ps, secret, "the value is in no process's arguments");
  });

  t.test("a cwd that cannot be entered fails naming it, and nothing runs", async (t) => {
    for (const options of [{ cwd: "/no/such/dir" }, { cwd: "/no/such/dir", env: { A: "1" } }, { cwd: "/no/such/dir", allowFailure: true }]) {
      const error = await a!.exec("touch /tmp/ran-anyway; pwd", options).catch((e: unknown) => e);
      t.ok(error instanceof ExecError, `rejects with ${JSON.stringify(options)}`);
      t.match((error as Error).message, /cwd "\/no\/such\/dir" cannot be entered .*did not run/);
    }
    t.equal((await a!.exec(["test", "-e", "/tmp/ran-anyway"], { allowFailure: true })).code, 1, "the command never ran in the login directory");
  });

  t.test('cwd "-" is a directory named "-", not the previous directory', async (t) => {
    await a!.exec(["mkdir", "-p", "/root/-"]);
    t.equal((await a!.exec("pwd", { cwd: "-" })).stdout, "/root/-\n");
    t.equal((await a!.exec("pwd", { cwd: "/etc" })).stdout, "/etc\n");
  });

  t.test("exec keeps at most maxOutputBytes and says so", async (t) => {
    const error = await a!.exec(["head", "-c", "5000000", "/dev/zero"], { maxOutputBytes: 1 << 20 }).catch((e: unknown) => e);
    t.ok(error instanceof ExecOutputLimitError, "rejects with ExecOutputLimitError");
    t.match((error as Error).message, /more than maxOutputBytes \(1048576\)/);
    t.equal((await a!.exec(["head", "-c", "1048576", "/dev/zero"], { maxOutputBytes: 1 << 20 })).stdoutBytes.length, 1 << 20, "exactly the cap is fine");
    t.equal((await a!.exec("echo still usable")).stdout, "still usable\n", "the connection survives");
  });
}
