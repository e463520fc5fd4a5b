// Keeps the benchmarks from rotting: runs `npm run bench -- --smoke --json` against real
// containers and checks that every measure reports finite figures. No timing assertions.
import { execFile } from "node:child_process";
import t from "tap";
import { requireDocker, ROOT } from "./helpers/fleet.ts";

const MEASURES = ["exec", "fanout", "copy", "logs", "memory", "history", "broadcast", "bringup", "teardown", "faults", "startup", "scale"];
const STATS = ["median", "p90", "min", "max", "rounds", "samples"];

const docker = await requireDocker(t);
if (docker) {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    execFile("npm", ["run", "--silent", "bench", "--", "--smoke", "--json"], { cwd: ROOT, maxBuffer: 16 << 20, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    ),
  );
  t.equal(code, 0, `the smoke bench exits 0; stderr:\n${stderr}`);
  const rows = JSON.parse(stdout) as Array<Record<string, unknown>>;
  t.ok(Array.isArray(rows), "stdout is a JSON array of measure rows");
  t.same([...new Set(rows.map((r) => r.measure))].sort(), [...MEASURES].sort(), "every measure reports");
  for (const r of rows) {
    const name = String(r.name);
    t.type(r.name, "string");
    t.type(r.unit, "string", `${name}: unit`);
    t.type(r.baselineName, "string", `${name}: baseline name`);
    for (const side of ["fieldtest", "baseline"] as const) {
      const stats = r[side] as Record<string, unknown>;
      for (const key of STATS) t.ok(Number.isFinite(stats[key]), `${name}: ${side}.${key} is a finite number`);
    }
    t.ok(Number.isFinite(r.ratio), `${name}: ratio is a finite number`);
    t.ok(r.goal === null || typeof r.goal === "string", `${name}: goal is text or null`);
    t.ok(r.met === null || typeof r.met === "boolean", `${name}: met is a boolean or null`);
  }
}
