// The import graph of src/ and infra/: arrows point one way. Read from the files' own imports by
// TypeScript's scanner, so `import type`, `export … from` and `import("…")` (dynamic or in a type)
// all count: a type a lower module needs from a higher one is in the wrong place.
//
// 1. No file imports a module that imports it back.
// 2. The folders of src/ form ordered layers (docs/architecture.md); a module imports only from
//    its own layer or lower ones.
// 3. No two folders of src/ import each other, through any chain.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import t from "tap";
import ts from "typescript";
import { ROOT } from "./helpers/fleet.ts";

/** Lowest first. A folder is the first path segment under src/; `index.ts` is the public surface on top. */
export const LAYERS: ReadonlyArray<{ name: string; folders: readonly string[] }> = [
  { name: "core", folders: ["core"] },
  { name: "transport", folders: ["transport"] },
  { name: "targets", folders: ["targets"] },
  { name: "runtime", folders: ["runtime"] },
  { name: "scenario", folders: ["scenario"] },
  { name: "runs and observe", folders: ["runs", "observe"] },
  { name: "cli", folders: ["cli"] },
  { name: "public surface", folders: ["index.ts"] },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** The files a module imports, types included; packages (no leading dot) are not part of the graph. */
export function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
  return importedFiles.map((f) => f.fileName).filter((s) => s.startsWith(".")).map((s) => resolve(dirname(file), s));
}

export function importGraph(dirs: readonly string[]): Map<string, string[]> {
  return new Map(dirs.flatMap(sources).map((file) => [file, importsOf(file)]));
}

/** One cycle of the graph, as paths relative to `base`, or undefined. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>, base = ROOT): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, "open");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle.map((file) => relative(base, file));
  }
  return undefined;
}

/** The folder of src/ a file belongs to (`runtime` for src/runtime/faults/nemesis.ts), or undefined outside src/. */
function folderOf(srcDir: string, file: string): string | undefined {
  const path = relative(srcDir, file);
  if (path.startsWith("..")) return undefined;
  return path.split(sep)[0];
}

function layerOf(folder: string): number | undefined {
  const at = LAYERS.findIndex((layer) => layer.folders.includes(folder));
  return at < 0 ? undefined : at;
}

/**
 * Every import of a module of src/ that the layers forbid, as "importer → imported (why)": an
 * import of a higher layer, of a folder in no layer or of infra/; and every folder in no layer.
 */
export function layerViolations(graph: ReadonlyMap<string, readonly string[]>, srcDir: string, base = ROOT): string[] {
  const violations = new Set<string>();
  const describe = (layer: number) => `${LAYERS[layer]!.name} (${layer + 1})`;
  for (const [file, imports] of graph) {
    const from = folderOf(srcDir, file);
    if (from === undefined) continue;
    const fromLayer = layerOf(from);
    if (fromLayer === undefined) {
      violations.add(`src/${from}: in no layer (move it into a layer's folder)`);
      continue;
    }
    for (const target of imports) {
      const to = folderOf(srcDir, target);
      const edge = `${relative(base, file)} → ${relative(base, target)}`;
      if (to === undefined) {
        violations.add(`${edge} (src/ imports from outside src/; the type belongs in core)`);
        continue;
      }
      const toLayer = layerOf(to);
      if (toLayer === undefined) violations.add(`${edge} (src/${to} is in no layer)`);
      else if (toLayer > fromLayer) violations.add(`${edge} (${describe(fromLayer)} imports ${describe(toLayer)}, a higher layer)`);
    }
  }
  return [...violations].sort();
}

/** The graph of src/'s folders: an edge where some module of one imports some module of another. */
export function folderGraph(graph: ReadonlyMap<string, readonly string[]>, srcDir: string): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [file, imports] of graph) {
    const from = folderOf(srcDir, file);
    if (from === undefined) continue;
    const edges = folders.get(from) ?? new Set<string>();
    folders.set(from, edges);
    for (const target of imports) {
      const to = folderOf(srcDir, target);
      if (to !== undefined && to !== from) edges.add(to);
    }
  }
  return new Map([...folders].map(([folder, edges]) => [join(srcDir, folder), [...edges].map((to) => join(srcDir, to))]));
}

/** For a folder cycle, the imports that make each of its steps: "a/x.ts → b/y.ts". */
function stepsOf(cycle: readonly string[], graph: ReadonlyMap<string, readonly string[]>, srcDir: string, base: string): string[] {
  const steps: string[] = [];
  for (let i = 0; i + 1 < cycle.length; i++) {
    const [from, to] = [cycle[i]!, cycle[i + 1]!].map((path) => relative(srcDir, join(base, path)));
    for (const [file, imports] of graph) {
      const target = folderOf(srcDir, file) === from ? imports.find((imported) => folderOf(srcDir, imported) === to) : undefined;
      if (target) {
        steps.push(`${relative(base, file)} → ${relative(base, target)}`);
        break;
      }
    }
  }
  return steps;
}

t.test("src/ and infra/ import no module that imports them back, type imports included", async (t) => {
  const graph = importGraph([join(ROOT, "src"), join(ROOT, "infra")]);
  t.ok(graph.size > 50, `read ${graph.size} modules`);
  t.equal(findCycle(graph)?.join(" → "), undefined);
});

t.test("every module of src/ imports only from its own layer or lower ones", async (t) => {
  const srcDir = join(ROOT, "src");
  t.same(layerViolations(importGraph([srcDir]), srcDir), []);
});

t.test("no two folders of src/ import each other", async (t) => {
  const srcDir = join(ROOT, "src");
  const graph = importGraph([srcDir]);
  const cycle = findCycle(folderGraph(graph, srcDir));
  t.equal(cycle && `${cycle.join(" → ")}: ${stepsOf(cycle, graph, srcDir, ROOT).join(", ")}`, undefined);
});

t.test("the checks catch an upward import, a type-import cycle and a folder cycle", async (t) => {
  const root = mkdtempSync(join(tmpdir(), "fieldtest-import-graph-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const srcDir = join(root, "src");
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(srcDir, path)), { recursive: true });
    writeFileSync(join(srcDir, path), text);
  };
  write("core/labels.ts", `export const ROLE = "role";\n`);
  // Upward, by a type only: runtime (4) may not know of the CLI (7).
  write("runtime/agent.ts", `import { ROLE } from "../core/labels.ts";\nimport type { Flags } from "../cli/flags.ts";\nexport const agent = (flags: Flags) => ROLE;\n`);
  write("cli/flags.ts", `import { agent } from "../runtime/agent.ts";\nexport type Flags = { verbose: boolean };\nexport const run = agent;\n`);
  // A cycle of types only, erased at runtime: still a cycle.
  write("observe/alerts.ts", `import type { RunState } from "./run-state.ts";\nexport type Alert = { state: RunState };\n`);
  write("observe/run-state.ts", `export type { Alert } from "./alerts.ts";\nexport type RunState = { phase: string };\n`);
  // runs and observe share a layer, so only the folder check sees them import each other.
  write("runs/record.ts", `export type Record = { id: string; on: import("../observe/website.ts").Site };\n`);
  write("observe/website.ts", `import type { Record } from "../runs/record.ts";\nexport type Site = { runs: Record[] };\n`);
  write("backends/open.ts", `export const open = 1;\n`);
  const graph = importGraph([srcDir]);

  t.same(layerViolations(graph, srcDir, root), [
    "src/backends: in no layer (move it into a layer's folder)",
    "src/runtime/agent.ts → src/cli/flags.ts (runtime (4) imports cli (7), a higher layer)",
  ]);
  const alerts = join(srcDir, "observe/alerts.ts");
  const runState = join(srcDir, "observe/run-state.ts");
  t.same(findCycle(new Map([[alerts, graph.get(alerts)!], [runState, graph.get(runState)!]]), root), ["src/observe/alerts.ts", "src/observe/run-state.ts", "src/observe/alerts.ts"]);
  const folders = folderGraph(graph, srcDir);
  const cycle = findCycle(new Map([...folders].filter(([folder]) => !folder.endsWith("cli") && !folder.endsWith("runtime"))), root);
  // Where the search starts depends on the order the directory lists its files in.
  t.same(cycle?.slice(1).sort(), ["src/observe", "src/runs"]);
  t.same(stepsOf(cycle!, graph, srcDir, root).sort(), ["src/observe/website.ts → src/runs/record.ts", "src/runs/record.ts → src/observe/website.ts"]);
});
