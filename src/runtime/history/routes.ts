import type { FastifyInstance } from "fastify";
import { readNewLines } from "./reader.ts";

/** Most entries one /api/history answer holds; a client pages on with `from`. */
const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * `/api/history?from=<byte offset>`: the complete lines appended since that offset and the
 * offset to ask from next, so a page or `attach` follows the file without re-reading it.
 * `/api/checks`: the checkers' results once the run has finished (null before).
 */
export function registerHistoryRoutes(app: FastifyInstance, historyPath: string | undefined, checks: () => Promise<unknown>): void {
  app.get<{ Querystring: { from?: string } }>("/api/history", async (request, reply) => {
    const from = request.query.from === undefined ? 0 : Number(request.query.from);
    if (!Number.isInteger(from) || from < 0) return reply.code(400).send({ error: "from must be a byte offset (a whole number from 0)" });
    // A website without a run history (embedded, tests) answers empty rather than 404, so the page stays quiet.
    if (historyPath === undefined) return { entries: [], next: 0 };
    const { lines, offset } = await readNewLines(historyPath, from, PAGE_BYTES);
    return { entries: lines.map((line) => JSON.parse(line) as unknown), next: offset };
  });
  app.get("/api/checks", async () => ({ checks: (await checks()) ?? null }));
}
