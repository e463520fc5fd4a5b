import { appendFile, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import { scenarioInventory, type Inventory } from "../core/inventory.ts";
import { Agent } from "../runtime/agent.ts";
import { HashCache } from "../runtime/hash-cache.ts";
import { quoteArg } from "../transport/quote.ts";
import { CONSOLE_FILE, parseRunStatus, REMOTE_RUNS_DIR, remoteRunDir, remoteStopFile, STATUS_FILE, type RunStatus } from "./record.ts";

const RECORD_SEPARATOR = "\u001e";

/**
 * The first agent of a namespace, where its runs' live state is mirrored. Anyone with the
 * inventory and the namespace's key reaches it: this is how `attach` works from anywhere.
 */
export class RunHost {
  readonly #hashes = new HashCache();
  readonly #agent: Agent;
  /** Other agents of the fleet, opened when a website is on one of them (see openTcp). */
  readonly #others = new Map<string, Agent>();

  private constructor(
    spec: Inventory["agents"][number],
    private readonly inventory: Inventory,
    private readonly privateKey: string,
  ) {
    this.#agent = new Agent(spec, { privateKey, hashes: this.#hashes, logSink: () => {} });
  }

  static async connect(inventory: Inventory, privateKey: string): Promise<RunHost | undefined> {
    // The runner mirrors to the first agent it runs on, which is never the orchestrator agent.
    const first = scenarioInventory(inventory).agents[0];
    if (!first) return undefined;
    const host = new RunHost(first, inventory, privateKey);
    try {
      await host.#agent.connect();
    } catch (error) {
      await host.close();
      throw error;
    }
    return host;
  }

  get agentName(): string {
    return this.#agent.name;
  }

  /** Every run mirrored on this agent, newest first. */
  async runs(): Promise<RunStatus[]> {
    const { stdout } = await this.#agent.exec(
      `for f in ${REMOTE_RUNS_DIR}/*/${STATUS_FILE}; do [ -f "$f" ] && cat "$f" && printf '${RECORD_SEPARATOR}'; done; true`,
    );
    return stdout
      .split(RECORD_SEPARATOR)
      .filter((text) => text.trim() !== "")
      .map((text) => parseRunStatus(text, `${this.agentName}:${REMOTE_RUNS_DIR}`))
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  /** The status and the console bytes after `offset`, in one round trip. */
  async follow(runId: string, offset: number, maxBytes = 1024 * 1024): Promise<{ status: RunStatus; console: Buffer }> {
    const dir = quoteArg(remoteRunDir(runId));
    const { stdoutBytes } = await this.#agent.exec(
      `cd ${dir} && cat ${STATUS_FILE} && printf '${RECORD_SEPARATOR}' && { tail -c +${offset + 1} ${CONSOLE_FILE} 2>/dev/null | head -c ${maxBytes}; true; }`,
    );
    const split = stdoutBytes.indexOf(RECORD_SEPARATOR);
    return { status: parseRunStatus(stdoutBytes.subarray(0, split).toString("utf8"), `${this.agentName}:${remoteRunDir(runId)}`), console: stdoutBytes.subarray(split + 1) };
  }

  /**
   * A TCP connection from this agent, or from the agent named `via`, to `host:port`: the way to
   * a website on the fleet's network, or on the orchestrator agent's loopback.
   */
  openTcp(host: string, port: number, via?: string): Promise<Duplex> {
    if (via === undefined || via === this.#agent.name) return this.#agent.openTcp(host, port);
    let agent = this.#others.get(via);
    if (!agent) {
      const spec = this.inventory.agents.find((a) => a.name === via);
      if (!spec) return Promise.reject(new Error(`the website is on agent ${via}, which the inventory of namespace ${this.inventory.namespace} does not have`));
      agent = new Agent(spec, { privateKey: this.privateKey, hashes: this.#hashes, logSink: () => {} });
      this.#others.set(via, agent);
    }
    return agent.openTcp(host, port);
  }

  async requestStop(runId: string): Promise<void> {
    await this.#agent.exec(`touch ${quoteArg(remoteStopFile(runId))}`);
  }

  /**
   * Copies the mirrored run directory into `localDir`, incrementally: a file already there
   * at the same size is skipped, a grown log or history gets only its new bytes.
   */
  async fetch(runId: string, localDir: string): Promise<{ files: number; bytes: number; skipped: number }> {
    const remote = remoteRunDir(runId);
    const { stdout } = await this.#agent.exec(`cd ${quoteArg(remote)} && find . -type f ! -name '*.part' -printf '%s\\t%P\\n'`);
    let files = 0;
    let bytes = 0;
    let skipped = 0;
    for (const line of stdout.split("\n").filter(Boolean)) {
      const tab = line.indexOf("\t");
      const size = Number(line.slice(0, tab));
      const rel = line.slice(tab + 1);
      const local = join(localDir, rel);
      const have = await stat(local).then((s) => s.size, () => -1);
      if (have === size) {
        skipped += 1;
        continue;
      }
      await mkdir(dirname(local), { recursive: true });
      const grows = /\.(log|jsonl)$/.test(rel) && have > 0 && have < size;
      const { stdoutBytes } = await this.#agent.exec(grows ? `tail -c +${have + 1} ${quoteArg(`${remote}/${rel}`)}` : `cat ${quoteArg(`${remote}/${rel}`)}`);
      if (grows) await appendFile(local, stdoutBytes);
      else await writeFile(local, stdoutBytes);
      files += 1;
      bytes += stdoutBytes.length;
    }
    return { files, bytes, skipped };
  }

  async close(): Promise<void> {
    await Promise.all([this.#agent, ...this.#others.values()].map((agent) => agent.close()));
    await this.#hashes.close();
  }
}

/** Runs recorded in a local runs directory (`runs/<namespace>/<id>/status.json`). */
export async function localRuns(runsDir: string, namespace: string | undefined): Promise<RunStatus[]> {
  const namespaces = namespace ? [namespace] : await readdir(runsDir).catch(() => [] as string[]);
  const out: RunStatus[] = [];
  for (const ns of namespaces) {
    for (const id of await readdir(join(runsDir, ns)).catch(() => [] as string[])) {
      const path = join(runsDir, ns, id, STATUS_FILE);
      const text = await readFile(path, "utf8").catch(() => undefined);
      if (text === undefined) continue;
      try {
        out.push(parseRunStatus(text, path));
      } catch {
        // A status being rewritten or from another tool: not a run to list.
      }
    }
  }
  return out;
}
