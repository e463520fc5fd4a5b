import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { buffer } from "node:stream/consumers";
import type { ClientChannel } from "ssh2";
import { hashOfChunkDigests } from "./content-hash.ts";
import { commitCommand, fileIdentity, manifestCheckCommand, MANIFEST_DIR, partialPath, untouchedIdentity, type CopyResult } from "./copy.ts";
import type { ExecResult } from "../transport/exec.ts";
import type { HashCache } from "./hash-cache.ts";
import { quoteArg } from "../transport/quote.ts";
import { RELAY_PROGRAM } from "./relay-program.ts";
import { LineSplitter } from "./line-splitter.ts";
import type { RemoteProcess } from "../transport/ssh-connection.ts";

/** What a broadcast needs of an agent (see `Agent.relayTarget`). */
export interface RelayTarget {
  name: string;
  /** Where the other agents reach this one. */
  internalHost: string;
  /** Whether copies to it go through the runner's inbox (localhost): those need no relay. */
  usesInbox: boolean;
  exec(command: string): Promise<ExecResult>;
  /** A channel running `command`, for the relay's own stdin and stdout. */
  open(command: string): Promise<RemoteProcess>;
  /** The agent's ordinary copy, for inbox agents and the fallbacks. */
  copy(local: string, remote: string): Promise<CopyResult>;
  borrowPorts(count: number): number[];
  giveBackPorts(ports: readonly number[]): void;
  /** Bytes the runner has written to this agent's connection so far. */
  bytesWritten(): number;
}

export interface BroadcastResult {
  remote: string;
  /** The file's size. */
  bytes: number;
  /** Every agent that holds the content now, by name: skipped (`transferred: false`) or sent. */
  agents: Record<string, CopyResult>;
  /** Agents that do not have it, and why. */
  failed: Array<{ agent: string; error: string }>;
  /** Bytes the runner wrote to the agents' connections during the copy (its uplink). */
  uplinkBytes: number;
}

export class BroadcastError extends Error {
  constructor(message: string, readonly result: BroadcastResult) {
    super(message);
  }
}

export interface BroadcastOptions {
  hashes: HashCache;
  /** Why the plan changed (a relay lost, a fallback), once per event. */
  log: (message: string) => void;
  /** A relay that sees no data, no predecessor or no progress this long gives up (default 30 s). */
  idleSeconds?: number;
  /** Up to this many agents are fed in a single chain, more get a binary tree (default CHAIN_MAX). */
  chainMax?: number;
}

/** Up to this many agents are fed in a single chain; a larger fleet gets a binary tree, so a lost agent cuts off fewer. */
const CHAIN_MAX = 16;
/** Ports borrowed per agent and round, in case the scenario already listens on one of them. */
const PORT_CANDIDATES = 3;
/** Relay rounds (the first, then re-feeds from agents that have the file) before the rest get direct copies. */
const MAX_ROUNDS = 3;
const DEFAULT_IDLE_SECONDS = 30;

interface Plan {
  local: string;
  remote: string;
  size: number;
  mode: number;
  hash: string;
  idleSeconds: number;
  chainMax: number;
  log: (message: string) => void;
}

/**
 * Sends one local file to many agents with the runner's uplink carrying it about once: the
 * runner streams it to one agent, and each agent forwards it to the next while writing it (a
 * pipelined chain, or a binary tree beyond CHAIN_MAX agents). Each agent's copy is checked against
 * the local content hash before it replaces the destination. Agents whose relay broke are fed
 * again from an agent that has the file; an agent that is gone is reported in `failed`.
 * Throws a BroadcastError, carrying the result, when any agent is left without the file.
 */
export async function broadcast(targets: readonly RelayTarget[], local: string, remote: string, options: BroadcastOptions): Promise<BroadcastResult> {
  const info = await stat(local).catch(() => {
    throw new Error(`copy: local path ${local} does not exist`);
  });
  const unique = [...new Map(targets.map((t) => [t.name, t])).values()];
  const sentBefore = new Map(unique.map((t) => [t.name, t.bytesWritten()]));
  const result: BroadcastResult = { remote, bytes: info.size, agents: {}, failed: [], uplinkBytes: 0 };
  const fail = (target: RelayTarget, error: unknown) => result.failed.push({ agent: target.name, error: error instanceof Error ? error.message : String(error) });
  const direct = (list: readonly RelayTarget[]) =>
    Promise.all(
      list.map((t) =>
        t.copy(local, remote).then(
          (copied) => void (result.agents[t.name] = copied),
          (error) => fail(t, error),
        ),
      ),
    );

  if (info.isDirectory() || unique.filter((t) => !t.usesInbox).length <= 1) {
    // Trees go to each agent on its own, and so does a file with at most one agent over SSH
    // (the others have the inbox): its own copy checks the manifest and hashes while it sends.
    await direct(unique);
  } else {
    // Hashed while the agents answer their manifest checks: on a 200 MB file both take a while.
    const hashing = options.hashes.fileHash(local);
    hashing.catch(() => {}); // awaited below
    const needing = new Set<RelayTarget>();
    await Promise.all(
      unique
        .filter((t) => !t.usesInbox)
        .map(async (t) => {
          try {
            const seen = untouchedIdentity((await t.exec(manifestCheckCommand(remote))).stdout);
            if (seen !== undefined && seen === fileIdentity(await hashing, info.mode)) {
              result.agents[t.name] = { remote, transferred: false, bytes: 0 };
            } else needing.add(t);
          } catch (error) {
            fail(t, error);
          }
        }),
    );
    // In the order given, so the chain is the caller's order.
    const overSsh = unique.filter((t) => needing.has(t));
    const hash = await hashing;
    const plan: Plan = {
      local,
      remote,
      size: info.size,
      mode: info.mode,
      hash,
      idleSeconds: options.idleSeconds ?? DEFAULT_IDLE_SECONDS,
      chainMax: options.chainMax ?? CHAIN_MAX,
      log: options.log,
    };
    // Inbox agents (localhost) copy on their own disk; a single agent over SSH needs no relay.
    const relayed = overSsh.length > 1 ? relayAll(overSsh, plan, result, fail) : direct(overSsh).then(() => []);
    const [, left] = await Promise.all([direct(unique.filter((t) => t.usesInbox)), relayed]);
    // Agents the relay could not serve are sent the file one by one.
    await direct(left);
  }
  result.uplinkBytes = unique.reduce((sum, t) => sum + t.bytesWritten() - sentBefore.get(t.name)!, 0);
  if (result.failed.length > 0) {
    throw new BroadcastError(
      `copy of ${local} to ${remote}: ${result.failed.map((f) => `${f.agent} failed: ${f.error}`).join("; ")}` +
        ` (${Object.keys(result.agents).length} other agent(s) have it; the error's \`result\` lists them)`,
      result,
    );
  }
  return result;
}

/** Relay rounds until every agent has the file or is gone; returns the agents to copy to directly. */
async function relayAll(
  pending: RelayTarget[],
  plan: Plan,
  result: BroadcastResult,
  fail: (target: RelayTarget, error: unknown) => void,
): Promise<RelayTarget[]> {
  const sources: RelayTarget[] = [];
  const direct: RelayTarget[] = [];
  let source: RelayTarget | undefined;
  for (let round = 1; pending.length > 0; round++) {
    const outcome = await relayRound(source, pending, plan);
    for (const t of outcome.received) result.agents[t.name] = { remote: plan.remote, transferred: true, bytes: plan.size, via: "relay" };
    for (const [t, why] of outcome.gone) fail(t, why);
    if (source && outcome.sourceFailed) sources.splice(sources.indexOf(source), 1);
    sources.push(...outcome.received);
    if (outcome.noRelay.length > 0) {
      plan.log(`copy: ${describe(outcome.noRelay)}; sending ${plan.remote} to them directly`);
      direct.push(...outcome.noRelay.map(([t]) => t));
    }
    pending = outcome.retry.map(([t]) => t);
    if (pending.length === 0) break;
    if (round === MAX_ROUNDS) {
      plan.log(`copy: ${describe(outcome.retry)}; sending ${plan.remote} to them directly`);
      direct.push(...pending);
      break;
    }
    source = sources[0];
    plan.log(`copy: ${describe(outcome.retry)}; relaying ${plan.remote} to them again ${source ? `from ${source.name}, which has it` : "from the runner"}`);
  }
  return direct;
}

function describe(list: ReadonlyArray<[RelayTarget, string]>): string {
  return list.map(([t, why]) => `${t.name} did not get it through the relay (${why})`).join("; ");
}

interface RoundOutcome {
  received: RelayTarget[];
  /** Alive but without the file (their predecessor was lost, or the stream was short): feed them again. */
  retry: Array<[RelayTarget, string]>;
  /** Unreachable or stalled: reported as failed. */
  gone: Array<[RelayTarget, string]>;
  /** Cannot relay (no perl, no free port): copied directly. */
  noRelay: Array<[RelayTarget, string]>;
  sourceFailed: boolean;
}

/** Why a relay ended without the file, and what that makes of its agent. */
class RelayFailure extends Error {
  constructor(message: string, readonly kind: "retry" | "gone" | "noRelay") {
    super(message);
  }
}

/** One relay process on one agent, its stdout read as the protocol of relay-program.ts. */
class Relay {
  readonly port: Promise<number>;
  /** The chunk digests, once the relay printed `done` with the whole size. */
  readonly done: Promise<string[]>;
  lastHeard = Date.now();
  private finished = false;

  private constructor(readonly target: RelayTarget, readonly process: RemoteProcess, readonly ports: readonly number[], size: number) {
    const { channel, exited } = process;
    channel.on("error", () => {}); // a lost agent shows as its channel closing without a status
    const stderr = buffer(channel.stderr);
    const digests: string[] = [];
    let portSeen: (port: number) => void = () => {};
    let doneSeen: () => void = () => {};
    const portLine = new Promise<number>((resolve) => (portSeen = resolve));
    const doneLine = new Promise<void>((resolve) => (doneSeen = resolve));
    const splitter = new LineSplitter((line) => {
      this.lastHeard = Date.now();
      const [word, value] = line.split(" ");
      if (word === "port") portSeen(Number(value));
      else if (word === "done" && Number(value) === size) doneSeen();
      else if (/^[0-9a-f]{64} (?: -|\*stdin)$/.test(line)) digests.push(line.slice(0, 64));
    });
    channel.on("data", (chunk: Buffer) => splitter.push(chunk));
    const ended = exited.then(async ({ code, signal }) => {
      this.finished = true;
      const why = (await stderr.catch(() => Buffer.alloc(0))).toString().trim().split("\n").pop();
      if (code === null) return new RelayFailure(signal ? `its relay was killed by ${signal}` : "the connection to it was lost", "gone");
      if (code === 127) return new RelayFailure("perl is not installed", "noRelay");
      return new RelayFailure(why || `its relay exited with code ${code}`, /no free port/.test(why ?? "") ? "noRelay" : "retry");
    });
    this.port = Promise.race([portLine, ended.then((failure) => Promise.reject(failure))]);
    this.done = Promise.race([doneLine.then(() => digests), ended.then((failure) => Promise.reject(failure))]);
    this.port.catch(() => {});
    this.done.catch(() => {});
  }

  static async start(target: RelayTarget, command: (ports: readonly number[]) => string, size: number, timeoutMs: number): Promise<Relay> {
    const ports = target.borrowPorts(PORT_CANDIDATES);
    if (ports.length === 0) {
      throw new RelayFailure("no port of its slice is free for the relay", "noRelay");
    }
    try {
      const opening = target.open(command(ports));
      const process = await withTimeout(opening, timeoutMs, () => new RelayFailure(`no SSH channel within ${timeoutMs / 1000} s`, "gone"));
      return new Relay(target, process, ports, size);
    } catch (error) {
      target.giveBackPorts(ports);
      if (error instanceof RelayFailure) throw error;
      throw new RelayFailure((error as Error).message, "gone");
    }
  }

  get ended(): boolean {
    return this.finished;
  }

  send(text: string): void {
    if (!this.finished) this.process.channel.write(text);
  }

  close(): void {
    this.process.channel.close();
  }
}

/** One round: a tree over `targets`, fed from the runner or from an agent that has the file. */
async function relayRound(source: RelayTarget | undefined, targets: readonly RelayTarget[], plan: Plan): Promise<RoundOutcome> {
  const outcome: RoundOutcome = { received: [], retry: [], gone: [], noRelay: [], sourceFailed: false };
  const token = randomBytes(16).toString("hex");
  const idleMs = plan.idleSeconds * 1000;
  const partial = partialPath(plan.remote);
  const program = quoteArg(RELAY_PROGRAM);
  const relayCommand = (ports: readonly number[]) =>
    `p=${quoteArg(partial)}; trap 'rm -f -- "$p"' EXIT; mkdir -p "$(dirname -- "$p")" "${MANIFEST_DIR}" && ` +
    `perl -e ${program} relay "$p" ${plan.size} ${ports.join(",")} ${token} ${plan.idleSeconds} && ` +
    `read -r verdict && [ "$verdict" = commit ] && { ${commitCommand(plan.remote, partial, plan.hash, plan.mode)}; }`;
  const classify = (t: RelayTarget, error: unknown) => {
    const failure = error instanceof RelayFailure ? error : new RelayFailure((error as Error).message, "retry");
    outcome[failure.kind].push([t, failure.message]);
  };

  const relays: Relay[] = [];
  await Promise.all(
    targets.map((t) =>
      Relay.start(t, relayCommand, plan.size, idleMs).then(
        (relay) => void relays.push(relay),
        (error) => classify(t, error),
      ),
    ),
  );
  try {
    // Every relay says which port it holds; the tree is drawn over those that did.
    const ready: Array<{ relay: Relay; port: number }> = [];
    await Promise.all(
      relays.map(async (relay) => {
        try {
          ready.push({ relay, port: await withTimeout(relay.port, idleMs, () => new RelayFailure(`its relay did not start within ${plan.idleSeconds} s`, "gone")) });
        } catch (error) {
          relay.close();
          classify(relay.target, error);
        }
      }),
    );
    ready.sort((a, b) => targets.indexOf(a.relay.target) - targets.indexOf(b.relay.target));
    if (ready.length === 0) return outcome;
    const fanout = ready.length <= plan.chainMax ? 1 : 2;
    const address = ({ relay, port }: { relay: Relay; port: number }) => `${relay.target.internalHost}:${port}`;
    ready.forEach((node, i) => {
      const children = ready.slice(fanout * i + 1, fanout * i + 1 + fanout);
      const from = i === 0 && !source ? "stdin" : "net";
      node.relay.send(`${[from, ...children.map(address)].join(" ")}\n`);
    });

    const feeding = source ? feedFromAgent(source, address(ready[0]!), token, plan) : feedFromRunner(ready[0]!.relay, plan.local);
    const fed = feeding.then(
      () => true,
      () => false,
    );
    const watchdog = setInterval(() => {
      for (const { relay } of ready) {
        if (!relay.ended && Date.now() - relay.lastHeard > idleMs + 5000) relay.close();
      }
    }, 1000);
    try {
      await Promise.all(
        ready.map(async ({ relay }) => {
          const stalled = () => Date.now() - relay.lastHeard > idleMs + 5000;
          try {
            const digests = await relay.done;
            if (hashOfChunkDigests(digests) !== plan.hash) {
              relay.send("abort\n");
              throw new RelayFailure("what it received does not match the local content hash", "retry");
            }
            relay.send("commit\n");
            relay.process.channel.end();
            const { code } = await relay.process.exited;
            if (code !== 0) throw new RelayFailure(`replacing ${plan.remote} with what it received failed (exit ${code})`, code === null ? "gone" : "retry");
            outcome.received.push(relay.target);
          } catch (error) {
            classify(relay.target, stalled() ? new RelayFailure(`its relay went silent for ${plan.idleSeconds} s`, "gone") : error);
          }
        }),
      );
    } finally {
      clearInterval(watchdog);
    }
    outcome.sourceFailed = !(await fed);
    return outcome;
  } finally {
    for (const relay of relays) {
      if (!relay.ended) relay.close();
      relay.target.giveBackPorts(relay.ports);
    }
  }
}

/** Streams the file into the head relay's stdin, after its control line. */
async function feedFromRunner(head: Relay, local: string): Promise<void> {
  const channel: ClientChannel = head.process.channel;
  const closed = head.process.exited.then(() => {
    throw new Error(`${head.target.name} went away while the runner was sending`);
  });
  closed.catch(() => {});
  for await (const chunk of createReadStream(local, { highWaterMark: 1 << 20 })) {
    if (head.ended) throw new Error(`${head.target.name} went away while the runner was sending`);
    if (!channel.write(chunk)) await Promise.race([new Promise((resolve) => channel.once("drain", resolve)), closed]);
  }
}

/** Has an agent that holds the verified file send it to the round's head. */
async function feedFromAgent(source: RelayTarget, head: string, token: string, plan: Plan): Promise<void> {
  const process = await source.open(`perl -e ${quoteArg(RELAY_PROGRAM)} source ${quoteArg(plan.remote)} ${plan.size} - ${token} ${plan.idleSeconds}`);
  process.channel.on("error", () => {});
  const stderr = buffer(process.channel.stderr);
  process.channel.resume();
  process.channel.end(`file ${head}\n`);
  const { code } = await process.exited;
  if (code !== 0) throw new Error(`${source.name} could not send it: ${(await stderr).toString().trim() || `exit ${code}`}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number, failure: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(failure()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
