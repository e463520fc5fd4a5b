// cloud.faults on real agents with networks of their own, measured with real traffic between
// them: TCP connects across a partition, connect round trips under delay, UDP datagrams under
// loss, a transfer under a bandwidth cap, libfaketime's clock, and the agents' own heal timers.
import t from "tap";
import { FaultRefusedError } from "../src/runtime/faults/probe.ts";
import { Nemesis } from "../src/runtime/faults/nemesis.ts";
import { FaultSession } from "../src/runtime/faults/session.ts";
import type { FaultEvent } from "../src/runtime/faults/events.ts";
import type { Agent } from "../src/runtime/agent.ts";
import { requireDocker, testFleet, waitFor } from "./helpers/fleet.ts";

/** Whether `from` can open a TCP connection to `to`'s sshd within half a second. */
async function connects(from: Agent, to: Agent): Promise<boolean> {
  const result = await from.exec(["timeout", "0.5", "bash", "-c", `exec 3<>/dev/tcp/${to.internalHost}/30000`], { allowFailure: true });
  return result.code === 0;
}

/** Median TCP connect time from `from` to `to`'s sshd, in ms (a SYN / SYN-ACK round trip). */
async function connectRttMs(from: Agent, to: Agent, samples = 9): Promise<number> {
  const script = `for i in $(seq ${samples}); do s=$EPOCHREALTIME; exec 3<>/dev/tcp/${to.internalHost}/30000; e=$EPOCHREALTIME; exec 3>&-; echo $(( \${e/./} - \${s/./} )); done`;
  const { stdout } = await from.exec(["bash", "-c", script]);
  const values = stdout.trim().split("\n").map((us) => Number(us) / 1000).sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** Sends `count` UDP datagrams from `from` to `to` and returns how many `to` received. */
async function udpDelivered(from: Agent, to: Agent, port: number, count: number): Promise<number> {
  // SO_RCVBUFFORCE (33): a burst must not overflow the socket, or loss would not be the fault's alone.
  const receiver = `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => ${port}, Proto => "udp") or die "$!";
    setsockopt($s, 1, 33, pack("i", 8 << 20)); open(my $ready, ">", "/tmp/udp-ready-${port}"); close($ready);
    my ($n, $rin) = (0, ""); vec($rin, fileno($s), 1) = 1; my $wait = 5;
    while (select(my $r = $rin, undef, undef, $wait)) { $s->recv(my $buf, 64); $n++; $wait = 0.5 } print "$n\\n";`;
  await to.exec(["rm", "-f", `/tmp/udp-ready-${port}`]);
  const received = to.exec(["perl", "-e", receiver]);
  await waitFor("the UDP receiver", async () => ((await to.exec(["test", "-e", `/tmp/udp-ready-${port}`], { allowFailure: true })).code === 0 ? true : undefined), 5000, 20);
  // A little pacing (one 10 µs-ish builtin per datagram, a pause every 100) keeps the sender's own queue from dropping.
  await from.exec(["bash", "-c", `exec 3>/dev/udp/${to.internalHost}/${port}; for i in $(seq ${count}); do echo $i >&3; (( i % 100 )) || sleep 0.005; done`]);
  return Number((await received).stdout.trim());
}

/** Megabits per second of a `bytes` TCP transfer from `from` to `to`, timed until `to` has it all. */
async function transferMbit(from: Agent, to: Agent, port: number, bytes: number): Promise<number> {
  const received = to.exec(["bash", "-c", `busybox nc -l -p ${port} | wc -c`]);
  // Asked with ss: a probe connection would use up nc's one connection.
  await waitFor("the TCP receiver", () => listening(to, port), 5000, 20);
  const started = performance.now();
  await from.exec(["bash", "-c", `head -c ${bytes} /dev/zero > /dev/tcp/${to.internalHost}/${port}`]);
  const got = Number((await received).stdout.trim());
  const seconds = (performance.now() - started) / 1000;
  if (got !== bytes) throw new Error(`the receiver got ${got} of ${bytes} bytes`);
  return (bytes * 8) / 1e6 / seconds;
}

async function listening(agent: Agent, port: number): Promise<true | undefined> {
  const { stdout } = await agent.exec(["ss", "-Htln", `sport = :${port}`]);
  return stdout.trim() ? true : undefined;
}

async function faultChains(agent: Agent): Promise<string[]> {
  const { stdout } = await agent.exec(["fieldtest-fault", "chains"]);
  return stdout.split("\n").filter(Boolean);
}

async function activeFaults(agent: Agent): Promise<string[]> {
  const { stdout } = await agent.exec(["fieldtest-fault", "list"]);
  return stdout.split("\n").filter(Boolean);
}

async function faultSessionPids(agent: Agent): Promise<string[]> {
  const { stdout } = await agent.exec(["sh", "-c", "ps -eo pid=,args= | sed -n 's|^ *\\([0-9]*\\) /bin/bash /usr/local/bin/fieldtest-fault serve$|\\1|p'"]);
  return stdout.split("\n").filter(Boolean);
}

async function faultSessions(agent: Agent): Promise<number> {
  const { stdout } = await agent.exec(["sh", "-c", "ps -eo args= | grep -c '^/bin/bash /usr/local/bin/fieldtest-fault serve$' || true"]);
  return Number(stdout.trim());
}

const docker = await requireDocker(t);
if (docker) {
  const fleet = await testFleet(t, docker, 3);
  const [a, b, c] = fleet.cloud.agents as [Agent, Agent, Agent];
  const events: FaultEvent[] = [];
  const metrics: Array<{ name: string; value: number; labels: Record<string, string> }> = [];
  const nemesis = new Nemesis(fleet.cloud.agents, {
    observer: { faultEvent: (event) => events.push(event) },
    pushMetric: (name, value, options) => metrics.push({ name, value, labels: options.labels }),
  });
  t.teardown(() => nemesis.heal());

  t.test("agents have addresses of their own, sshd on 30000, ports from 30001", async (t) => {
    t.not(a.internalHost, b.internalHost);
    t.match(a.internalHost, /^172\.(2[0-3])\.\d+\.\d+$/);
    t.equal(a.sshPort, 30000);
    t.equal(a.nextPort(), 30001);
    t.equal(a.labels.network, "own");
  });

  t.test("partition: a ⟂ {b, c} both ways, b ↔ c untouched; heal restores", async (t) => {
    t.ok(await connects(a, b), "a reaches b before");
    const fault = await nemesis.partition([[a], [b, c]]);
    const [ab, ba, bc, cb] = await Promise.all([connects(a, b), connects(b, a), connects(b, c), connects(c, b)]);
    t.notOk(ab, "a cannot reach b");
    t.notOk(ba, "b cannot reach a");
    t.ok(bc && cb, "b and c still reach each other");
    t.ok(await connects(a, a), "fieldtest's runner and a's own loopback are untouched");
    t.same(await activeFaults(a), [fault.id], "the fault is active on a");
    t.equal(await faultSessions(a), 1, "one resident fault session on a, which heals it at the deadline");
    await fault.heal();
    t.ok(await connects(a, b), "a reaches b after heal");
    t.ok(await connects(b, a), "b reaches a after heal");
    t.same(await faultChains(a), [], "no chain left on a");
    t.same(await activeFaults(a), [], "nothing active on a");
    const mine = events.filter((e) => e.id === fault.id);
    t.same(mine.map((e) => e.type), ["fault-start", "fault-stop"], "start and stop events");
    t.same(
      metrics.filter((m) => m.labels.target === a.name && m.labels.kind === "partition").map((m) => [m.name, m.value]),
      [["fieldtest_fault_active", 1], ["fieldtest_fault_active", 0]],
      "the fault-active series goes 1, then 0",
    );
  });

  t.test("a fault session that ended is opened again, and the runner still heals what the old one applied", async (t) => {
    const fault = await nemesis.partition([[a], [b]]);
    const pids = await faultSessionPids(a);
    t.equal(pids.length, 1, "one session on a");
    await a.exec(["kill", "-9", ...pids]);
    t.notOk(await connects(a, b), "the partition outlives its session");
    await fault.heal();
    t.ok(await connects(a, b), "healed through a new session");
    t.same(await activeFaults(a), [], "nothing active on a");
    t.equal(await faultSessions(a), 1, "the new session runs");
  });

  t.test("faults whose session was killed and whose runner is gone heal at their deadline all the same", async (t) => {
    // The session is spoken to directly: no runner-side timer exists to heal them instead.
    const session = await FaultSession.open(a, () => {});
    const until = Date.now() + 1500;
    await session.request(`apply orphanrules ${until} rules\nOUT -d ${b.internalHost} -j DROP\n`);
    await session.request(`apply orphanclock ${until} clock 3600000\n`);
    t.notOk(await connects(a, b), "the rule is in force");
    await a.exec(["kill", "-9", ...(await faultSessionPids(a))]);
    t.notOk(await connects(a, b), "the rule outlives its killed session");
    const clockFile = async () => (await a.exec(["cat", "/var/lib/fieldtest/faketime"])).stdout.trim();
    t.equal(await clockFile(), "+3600.000", "the clock fault is in force");
    await waitFor("the agent to heal both", async () => ((await activeFaults(a)).length === 0 ? true : undefined), 10_000, 200);
    t.ok(Date.now() >= until, "not before the deadline");
    t.ok(await connects(a, b), "a reaches b again");
    t.same(await faultChains(a), [], "no chain left");
    t.equal(await clockFile(), "+0", "the clock is back");
    t.equal((await a.exec(["sh", "-c", "ls /run/fieldtest/deadlines | wc -l"])).stdout.trim(), "0", "no deadline left to watch");
  });

  t.test("one-way cut: a cannot open connections to b, b still opens them to a", async (t) => {
    const fault = await nemesis.cut({ from: a, to: b });
    t.notOk(await connects(a, b), "a → b fails");
    t.ok(await connects(b, a), "b → a works");
    await fault.heal();
    t.ok(await connects(a, b), "a → b works after heal");
  });

  t.test("delay: the round trip a → b rises by the asked 100 ms, and returns after heal", async (t) => {
    const before = await connectRttMs(a, b);
    const fault = await nemesis.delay({ from: a, to: b, ms: 100, jitterMs: 5 });
    const during = await connectRttMs(a, b);
    const other = await connectRttMs(a, c);
    await fault.heal();
    const after = await connectRttMs(a, b);
    t.comment(`connect RTT a→b: ${before.toFixed(2)} ms, with delay ${during.toFixed(2)} ms, after heal ${after.toFixed(2)} ms; a→c ${other.toFixed(2)} ms`);
    t.ok(during - before >= 75 && during - before <= 125, `rise of ${(during - before).toFixed(1)} ms is within 100 ms ± 25%`);
    t.ok(other < 25, "a → c is not delayed");
    // Well under the 100 ms a fault left in place would add, and above a loaded machine's noise.
    t.ok(after < before + 50, "back to normal after heal");
  });

  t.test("loss: about 30% of 1,000 datagrams are lost, none without the fault", async (t) => {
    t.equal(await udpDelivered(a, b, 30010, 1000), 1000, "every datagram arrives without the fault");
    const fault = await nemesis.loss({ to: b, percent: 30 });
    const delivered = await udpDelivered(a, b, 30011, 1000);
    await fault.heal();
    t.comment(`delivered ${delivered} of 1000 at 30% loss`);
    // Binomial: sd ≈ 14.5 datagrams; 5 sd either way.
    t.ok(delivered >= 630 && delivered <= 770, `${delivered} delivered, expected about 700`);
  });

  t.test("bandwidth: a transfer from a is capped near 20 Mbit/s", async (t) => {
    const free = await transferMbit(a, b, 30020, 5_000_000);
    const fault = await nemesis.bandwidth({ from: a, to: b, mbit: 20 });
    const capped = await transferMbit(a, b, 30021, 5_000_000);
    await fault.heal();
    t.comment(`5 MB a→b: ${free.toFixed(0)} Mbit/s free, ${capped.toFixed(1)} Mbit/s capped at 20`);
    t.ok(capped >= 14 && capped <= 23, `${capped.toFixed(1)} Mbit/s is near 20`);
    t.ok(free > 100, "uncapped it is much faster");
  });

  t.test("clock: libfaketime shows a daemon started with clockEnv() the skew; heal undoes it", async (t) => {
    const lines: string[] = [];
    const clockLoop = `$| = 1; while (1) { print time(), "\\n"; select(undef, undef, undef, 0.2) }`;
    const daemon = await a.spawn(["perl", "-e", clockLoop], { name: "clock", env: nemesis.clockEnv(), onLine: (l) => lines.push(l.line) });
    t.teardown(() => daemon.stop({ graceMs: 100 }));
    const skewOf = () => Number(lines.at(-1)) - Date.now() / 1000;
    await waitFor("the clock daemon's first line", () => (lines.length ? true : undefined), 5000);
    t.ok(Math.abs(skewOf()) < 2, "no skew before");
    const fault = await nemesis.clock(a, { offsetMs: 90_000 });
    await waitFor("the skew to reach the running daemon", () => (skewOf() > 85 ? true : undefined), 5000);
    const fresh = Number((await a.exec(["date", "+%s"], { env: nemesis.clockEnv() })).stdout) - Date.now() / 1000;
    t.ok(fresh > 85 && fresh < 95, `a new process sees +${fresh.toFixed(1)} s`);
    const plain = Number((await a.exec(["date", "+%s"])).stdout) - Date.now() / 1000;
    t.ok(Math.abs(plain) < 2, "a process without clockEnv() sees the real clock");
    await fault.heal();
    await waitFor("the skew to go", () => (Math.abs(skewOf()) < 2 ? true : undefined), 5000);
  });

  t.test("a fault heals itself on the agent at its deadline", async (t) => {
    const fault = await nemesis.partition([[a], [c]], { healAfterMs: 1500 });
    t.equal((await faultChains(a)).length, 2, "the chains are there");
    await waitFor("the agent's timer to heal", async () => ((await faultChains(a)).length === 0 ? true : undefined), 5000, 100);
    t.ok(await connects(a, c), "a reaches c again");
    await waitFor("the runner to record the stop", () => (fault.active ? undefined : true), 3000);
  });

  t.test("pause, resume and kill of a daemon", async (t) => {
    const port = 30030;
    const server = `use IO::Socket::INET; my $s = IO::Socket::INET->new(LocalPort => ${port}, Listen => 16, ReuseAddr => 1) or die "$!"; while (my $c = $s->accept) { print $c "pong\\n"; close $c }`;
    const daemon = await b.spawn(["perl", "-e", server], { name: "pong", restart: "on-failure" });
    t.teardown(() => daemon.stop({ graceMs: 100 }));
    const answers = async () => (await a.exec(["timeout", "0.5", "bash", "-c", `exec 3<>/dev/tcp/${b.internalHost}/${port}; read -r line <&3; echo $line`], { allowFailure: true })).stdout.trim() === "pong";
    await waitFor("the daemon to answer", async () => ((await answers()) ? true : undefined), 5000, 50);
    await daemon.pause();
    t.notOk(await answers(), "a paused daemon does not answer");
    await daemon.resume();
    t.ok(await answers(), "it answers again after resume");

    const paused = await nemesis.pause(daemon, { healAfterMs: 1000 });
    t.notOk(await answers(), "paused through the nemesis");
    await waitFor("the agent to resume it at the deadline", async () => ((await answers()) ? true : undefined), 4000, 100);
    t.notOk(paused.active && (await b.exec(["fieldtest-fault", "list"])).stdout.trim() !== "", "nothing left active on the agent");

    await daemon.kill("SIGKILL");
    await waitFor("the restart policy to restart it", () => (daemon.restartCount === 1 ? true : undefined), 5000);
    await waitFor("the restarted daemon to answer", async () => ((await answers()) ? true : undefined), 5000, 50);
    t.equal(daemon.restartCount, 1);
  });

  t.test("a fault a target cannot honour is refused with the reason", async (t) => {
    await c.exec(["mv", "/usr/local/bin/fieldtest-delayer", "/usr/local/bin/fieldtest-delayer.off"]);
    t.teardown(() => c.exec(["mv", "/usr/local/bin/fieldtest-delayer.off", "/usr/local/bin/fieldtest-delayer"]));
    const probing = new Nemesis(fleet.cloud.agents);
    const error = await probing.delay({ from: a, to: c, ms: 50 }).catch((e: unknown) => e);
    t.ok(error instanceof FaultRefusedError, "refused");
    t.match((error as Error).message, /delay refused: .*netem.*Specified qdisc kind is unknown.*agent-003: NFQUEUE delayer on the receiver: delayer: no fieldtest-delayer program/);
    t.same(await faultChains(c), [], "nothing was applied");
    const range = await probing.loss({ to: c, percent: 120 }).catch((e: unknown) => e);
    t.match((range as Error).message, /loss: percent must be a number from 0 to 100, not 120/);
  });

  t.test("agents on the host's network refuse network faults, saying why", async (t) => {
    const hostFleet = await testFleet(t, docker, 2, { network: "host", portsPerAgent: 4 });
    const [x, y] = hostFleet.cloud.agents as [Agent, Agent];
    const error = await hostFleet.cloud.faults.partition([[x], [y]]).catch((e: unknown) => e);
    t.ok(error instanceof FaultRefusedError);
    t.match((error as Error).message, /partition refused: agent-001: iptables: the agent shares the host's network \(--network host\); provision it with --network own/);
  });
}
