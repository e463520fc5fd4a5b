import { open, readFile } from "node:fs/promises";
import type { HistoryEntry, OpEntry } from "./entry.ts";

export interface ParsedHistory {
  entries: HistoryEntry[];
  /** The last line was cut short (the writer was killed mid-write); it is left out. */
  truncatedTail: boolean;
}

/** Parses history.jsonl text; only the last line may be torn, any other bad line is an error. */
export function parseHistory(text: string, source = "history"): ParsedHistory {
  const lines = text.split("\n");
  const complete = text.endsWith("\n");
  const last = lines.pop() ?? "";
  const entries: HistoryEntry[] = [];
  lines.forEach((line, i) => {
    if (line === "") return;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch (error) {
      throw new Error(`${source}: line ${i + 1} is not JSON (${(error as Error).message}); only the last line of a history may be torn`);
    }
  });
  return { entries, truncatedTail: !complete && last !== "" };
}

export async function readHistory(path: string): Promise<ParsedHistory> {
  return parseHistory(await readFile(path, "utf8"), path);
}

export function operations(entries: readonly HistoryEntry[]): OpEntry[] {
  return entries.filter((entry): entry is OpEntry => entry.kind === "op");
}

/**
 * Reads what was appended to a file since `offset`, up to the last complete line, so a
 * follower never hands on half a line; returns the new offset.
 */
export async function readNewLines(path: string, offset: number, maxBytes = Infinity): Promise<{ lines: string[]; offset: number }> {
  const handle = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined;
    throw error;
  });
  if (!handle) return { lines: [], offset };
  try {
    const { size } = await handle.stat();
    if (size <= offset) return { lines: [], offset };
    const buffer = Buffer.alloc(Math.min(size - offset, maxBytes));
    await handle.read(buffer, 0, buffer.length, offset);
    const end = buffer.lastIndexOf(0x0a);
    if (end < 0) return { lines: [], offset };
    const lines = buffer.subarray(0, end).toString("utf8").split("\n");
    return { lines, offset: offset + end + 1 };
  } finally {
    await handle.close();
  }
}
