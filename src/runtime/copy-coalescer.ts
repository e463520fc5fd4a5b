import { resolve } from "node:path";
import { broadcast, BroadcastError, type RelayTarget } from "./broadcast.ts";
import type { CopyResult } from "./copy.ts";
import type { HashCache } from "./hash-cache.ts";

/** How long `agent.copy` calls of the same file to the same path are gathered into one broadcast. */
const WINDOW_MS = 2;

interface Request {
  target: RelayTarget;
  resolve: (result: CopyResult) => void;
  reject: (error: Error) => void;
}

/**
 * Gathers `agent.copy(local, remote)` calls made at about the same time (a `Promise.all` over
 * agents) into one broadcast, so the runner's uplink carries the file once, not once per agent.
 * A call alone in its window is an ordinary copy.
 */
export class CopyCoalescer {
  private readonly batches = new Map<string, Request[]>();

  constructor(
    private readonly hashes: HashCache,
    private readonly log: (message: string) => void,
  ) {}

  copy(target: RelayTarget, local: string, remote: string): Promise<CopyResult> {
    const key = `${resolve(local)}\0${remote}`;
    let batch = this.batches.get(key);
    if (!batch) {
      batch = [];
      this.batches.set(key, batch);
      setTimeout(() => {
        this.batches.delete(key);
        void this.send(batch!, local, remote);
      }, WINDOW_MS);
    }
    return new Promise((resolve, reject) => batch.push({ target, resolve, reject }));
  }

  private async send(batch: readonly Request[], local: string, remote: string): Promise<void> {
    const targets = [...new Map(batch.map((r) => [r.target.name, r.target])).values()];
    if (targets.length === 1) {
      const copying = targets[0]!.copy(local, remote);
      for (const request of batch) copying.then(request.resolve, request.reject);
      return;
    }
    const result = await broadcast(targets, local, remote, { hashes: this.hashes, log: this.log }).catch((error: Error) => {
      if (error instanceof BroadcastError) return error.result;
      for (const request of batch) request.reject(error);
      return undefined;
    });
    if (!result) return;
    for (const request of batch) {
      const copied = result.agents[request.target.name];
      const failure = result.failed.find((f) => f.agent === request.target.name);
      if (copied) request.resolve(copied);
      else request.reject(new Error(`${request.target.name}: copy of ${local} to ${remote} failed: ${failure?.error ?? "unknown"}`));
    }
  }
}
