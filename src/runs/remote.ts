import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { scenarioInventory, type Inventory } from "../core/inventory.ts";
import { Agent } from "../runtime/agent.ts";
import { HashCache } from "../runtime/hash-cache.ts";
import { quoteArg } from "../transport/quote.ts";
import { DEFAULT_RECEIVE_LIMITS, isRunId, openInside, pathInside, ReceiveBudget, UnsafePathError, type ReceiveLimits } from "../core/safe-path.ts";
import { CONSOLE_FILE, parseRunStatus, REMOTE_RUNS_DIR, remoteRunDir, remoteStopFile, STATUS_FILE, type RunStatus } from "./record.ts";

const RECORD_SEPARATOR = "\u001e";
/** A status file is a few hundred bytes; the agent may have planted a larger one. */
const STATUS_MAX_BYTES = 64 * 1024;
/** Per round trip of fetch-run: exec holds a command's output in memory. */
const FETCH_CHUNK_BYTES = 16 * 1024 * 1024;

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
    // The runner mirrors to the first agent it runs on, which is never the runner agent.
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

  /**
   * Every run mirrored on this agent, newest first. The agent may have planted statuses: one
   * that does not parse, or whose id is not one fieldtest makes, is not a run.
   */
  async runs(): Promise<RunStatus[]> {
    const { stdout } = await this.#agent.exec(
      `for f in ${REMOTE_RUNS_DIR}/*/${STATUS_FILE}; do [ -f "$f" ] && head -c ${STATUS_MAX_BYTES} "$f" && printf '${RECORD_SEPARATOR}'; done; true`,
    );
    const runs: RunStatus[] = [];
    for (const text of stdout.split(RECORD_SEPARATOR).filter((t) => t.trim() !== "")) {
      try {
        const run = parseRunStatus(text, `${this.agentName}:${REMOTE_RUNS_DIR}`);
        if (isRunId(run.id)) runs.push(run);
      } catch {
        // Not a status fieldtest wrote.
      }
    }
    return runs.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
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
   * a website on the fleet's network, or on the runner agent's loopback.
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

  /** Replaces the run's mirrored status, whole (a reader never sees it partial): how `stop` records a run whose runner is gone. */
  async recordStatus(status: RunStatus): Promise<void> {
    const path = quoteArg(`${remoteRunDir(status.id)}/${STATUS_FILE}`);
    await this.#agent.exec(`cat > ${path}.part && mv -f ${path}.part ${path}`, { input: `${JSON.stringify(status, null, 2)}\n` });
  }

  async requestStop(runId: string): Promise<void> {
    await this.#agent.exec(`touch ${quoteArg(remoteStopFile(runId))}`);
  }

  /**
   * Copies the mirrored run directory into `localDir`, incrementally: a file already there
   * at the same size is skipped, a grown log or history gets only its new bytes. The names come
   * from the agent: each must stay inside `localDir`, and files, bytes and symlinks are refused
   * as `safe-path.ts` says.
   */
  async fetch(runId: string, localDir: string, limits: ReceiveLimits = DEFAULT_RECEIVE_LIMITS): Promise<{ files: number; bytes: number; skipped: number }> {
    if (!isRunId(runId)) throw new UnsafePathError(`refused run id ${JSON.stringify(runId)}: not an id fieldtest makes`);
    const remote = remoteRunDir(runId);
    // NUL-separated: a file name may hold a newline, which must not start a forged record.
    const { stdout } = await this.#agent.exec(`cd ${quoteArg(remote)} && find . -type f ! -name '*.part' -printf '%s\\t%P\\0'`);
    const budget = new ReceiveBudget(limits, `fetch-run ${runId} from ${this.agentName}`);
    let files = 0;
    let bytes = 0;
    let skipped = 0;
    for (const record of stdout.split("\0").filter(Boolean)) {
      const tab = record.indexOf("\t");
      const size = Number(record.slice(0, tab));
      const rel = record.slice(tab + 1);
      const local = pathInside(localDir, rel);
      budget.file();
      const have = await lstat(local).then((s) => (s.isFile() ? s.size : -1), () => -1);
      if (have === size) {
        skipped += 1;
        continue;
      }
      const from = /\.(log|jsonl)$/.test(rel) && have > 0 && have < size ? have : 0;
      const handle = await openInside(localDir, rel, from > 0 ? "append" : "truncate");
      try {
        for (let at = from; at < size; ) {
          const { stdoutBytes } = await this.#agent.exec(`tail -c +${at + 1} ${quoteArg(`${remote}/${rel}`)} | head -c ${Math.min(FETCH_CHUNK_BYTES, size - at)}`);
          if (stdoutBytes.length === 0) break;
          budget.bytes(stdoutBytes.length);
          await handle.write(stdoutBytes);
          at += stdoutBytes.length;
          bytes += stdoutBytes.length;
        }
      } finally {
        await handle.close();
      }
      files += 1;
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
