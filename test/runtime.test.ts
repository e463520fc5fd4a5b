import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { ExecError, ExecTimeoutError } from "../src/transport/exec.ts";
import { requireDocker, tempHome, testFleet, waitFor } from "./helpers/fleet.ts";

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 2, { portsPerAgent: 4 });
  const [a, b] = fleet.cloud.agents;

  t.test("argv arrives verbatim, whatever shell metacharacters it holds", async (t) => {
    const nasty = ["$HOME", "`id`", "$(whoami)", "a'b\"c", "semi;colon", "pipe|amp&", "*", "new\nline", "", " spaced  out ", "back\\slash", "-n"];
    const { stdout } = await a!.exec(["printf", "%s\\0", ...nasty]);
    t.same(stdout.split("\0").slice(0, -1), nasty);
  });

  t.test("exec is binary-safe both ways", async (t) => {
    const bytes = randomBytes(300_000);
    const result = await a!.exec(["cat"], { input: bytes });
    t.ok(result.stdoutBytes.equals(bytes), "300 kB of random bytes round-trip through stdin/stdout");
  });

  t.test("a non-zero exit throws an error with the code and stderr, unless allowed", async (t) => {
    const error = await a!.exec("echo oops >&2; exit 3").catch((e: unknown) => e);
    t.ok(error instanceof ExecError);
    t.equal((error as ExecError).result.code, 3);
    t.match((error as Error).message, /exited with code 3:\noops/);
    const allowed = await a!.exec("exit 4", { allowFailure: true });
    t.equal(allowed.code, 4);
  });

  t.test("cwd and env options", async (t) => {
    const { stdout } = await a!.exec('pwd; echo "$GREETING"', { cwd: "/etc", env: { GREETING: "it's $me" } });
    t.equal(stdout, "/etc\nit's $me\n");
  });

  t.test("a timeout kills the command on the agent", async (t) => {
    const marker = `sleep-${randomBytes(4).toString("hex")}`;
    // Left to run, the command would leave a file behind when its sleep ends.
    const error = await a!.exec(["bash", "-c", `(exec -a ${marker} sleep 10); touch ${marker}.finished`], { timeoutMs: 300 }).catch((e: unknown) => e);
    t.ok(error instanceof ExecTimeoutError, "rejects with ExecTimeoutError");
    await waitFor("the timed-out process to be gone", async () => ((await a!.exec(["pgrep", "-f", marker], { allowFailure: true })).code === 1 ? true : undefined), 5000);
    t.equal((await a!.exec(["test", "-e", `${marker}.finished`], { allowFailure: true })).code, 1, "killed at its deadline, not left to finish");
  });

  t.test("copy sends a file once and skips unchanged content", async (t) => {
    const dir = await tempHome(t);
    const local = join(dir, "data.bin");
    await writeFile(local, randomBytes(1 << 20));
    const first = await a!.copy(local, "copytest/data.bin");
    t.equal(first.transferred, true);
    t.equal(first.bytes, 1 << 20);
    t.equal((await a!.copy(local, "copytest/data.bin")).transferred, false, "same content: nothing sent");

    await writeFile(local, randomBytes(1 << 20));
    t.equal((await a!.copy(local, "copytest/data.bin")).transferred, true, "changed content is sent again");

    await a!.exec("echo tampered >> copytest/data.bin");
    t.equal((await a!.copy(local, "copytest/data.bin")).transferred, true, "a file changed on the agent is replaced");
    const remote = (await a!.exec(["sha256sum", "copytest/data.bin"])).stdout.split(" ")[0];
    const { createHash } = await import("node:crypto");
    t.equal(remote, createHash("sha256").update(await readFile(local)).digest("hex"));
  });

  t.test("directories copy, skip when unchanged, and download back", async (t) => {
    const dir = await tempHome(t);
    await mkdir(join(dir, "tree", "sub"), { recursive: true });
    await writeFile(join(dir, "tree", "a.txt"), "alpha\n");
    await writeFile(join(dir, "tree", "sub", "b.bin"), randomBytes(4096));
    t.equal((await a!.copy(join(dir, "tree"), "treecopy")).transferred, true);
    t.equal((await a!.copy(join(dir, "tree"), "treecopy")).transferred, false, "unchanged tree: nothing sent");
    await writeFile(join(dir, "tree", "a.txt"), "alpha changed\n");
    t.equal((await a!.copy(join(dir, "tree"), "treecopy")).transferred, true, "changed tree is sent again");

    await a!.download("treecopy", join(dir, "back"));
    t.equal(await readFile(join(dir, "back", "a.txt"), "utf8"), "alpha changed\n");
    t.ok((await readFile(join(dir, "back", "sub", "b.bin"))).equals(await readFile(join(dir, "tree", "sub", "b.bin"))));
    await a!.download("treecopy/a.txt", join(dir, "single.txt"));
    t.equal(await readFile(join(dir, "single.txt"), "utf8"), "alpha changed\n");
    await t.rejects(a!.download("no/such/file", join(dir, "x")), /does not exist on the agent/);
  });

  t.test("spawn streams prefixed lines; stop escalates TERM to KILL", async (t) => {
    const daemon = await a!.spawn("trap '' TERM; echo started; while true; do sleep 0.1; done", { name: "stubborn" });
    await waitFor("the daemon's first line", () => fleet.lines.find((l) => l.daemon === "stubborn" && l.line === "started"), 5000);
    t.equal(fleet.lines.find((l) => l.daemon === "stubborn")?.agent, a!.name);
    const started = Date.now();
    const exit = await daemon.stop({ graceMs: 500 });
    t.equal(exit.signal, "SIGKILL", "TERM was ignored, KILL ended it");
    t.ok(Date.now() - started >= 500, "waited the grace period first");
    t.equal((await a!.exec(["pgrep", "-f", "while true"], { allowFailure: true })).code, 1, "no child left behind");
  });

  t.test("a daemon that honours TERM stops at once", async (t) => {
    const daemon = await a!.spawn(["sleep", "300"]);
    t.equal(daemon.name, "sleep");
    const exit = await daemon.stop({ graceMs: 5000 });
    t.equal(exit.signal, "SIGTERM");
  });

  t.test("restart policy on-failure restarts a crashing daemon up to its limit", async (t) => {
    const daemon = await a!.spawn("echo run; exit 1", { name: "crasher", restart: "on-failure", maxRestarts: 2 });
    const exit = await daemon.exited;
    t.equal(exit.code, 1);
    t.equal(daemon.restartCount, 2);
    t.equal(fleet.lines.filter((l) => l.daemon === "crasher" && l.line === "run").length, 3, "ran 1 + 2 times");
  });

  t.test("nextPort hands out the agent's slice and throws when it runs out", async (t) => {
    const [first, last] = b!.portRange;
    t.equal(last - first + 1, 4);
    t.same([b!.nextPort(), b!.nextPort(), b!.nextPort()], [first + 1, first + 2, first + 3], "sshd's port is never handed out");
    t.throws(() => b!.nextPort(), /port range .* is exhausted/);
  });

  t.test("a dropped connection is re-established on the next command", async (t) => {
    // A command's parent is the sshd process serving its connection: the same one while the
    // connection lives, another once it was re-established.
    const server = async () => (await a!.exec("echo $PPID")).stdout.trim();
    const before = await server();
    t.equal(await server(), before, "commands share one connection");
    // Killing that sshd process drops the connection under the runtime.
    await a!.exec("kill -9 $PPID", { allowFailure: true }).catch(() => undefined);
    const after = await waitFor("a command over a new connection", () => server().catch(() => undefined), 5000, 50);
    t.not(after, before, "a new connection carried it");
  });

  t.test("agents reach each other on their own ports", async (t) => {
    const port = a!.nextPort();
    const daemon = await a!.spawn(["busybox", "nc", "-l", "-p", String(port), "-e", "echo", "pong"], { name: "pong" });
    const reply = await waitFor(
      "the pong daemon",
      async () => {
        const r = await b!.exec(["busybox", "nc", a!.internalHost, String(port)], { allowFailure: true });
        return r.stdout.includes("pong") ? r.stdout : undefined;
      },
      5000,
    );
    t.match(reply, /pong/);
    await daemon.stop({ graceMs: 1000 });
  });
}
