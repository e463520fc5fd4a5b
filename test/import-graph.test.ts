// The module graph of src/ and infra/ has no cycles at runtime: arrows point one way (CLI →
// backends → provisioners → core). Read from the files' own import statements, static and dynamic.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/fleet.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  // `import type` is erased at runtime; observe/ has such a cycle of types (alerts ⇄ run-state), left to its owner.
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s(?!type\s)[^;]*?from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g)].map((m) => m[1] ?? m[2]!);
  return specifiers.map((s) => resolve(dirname(file), s));
}

/** One cycle of the graph, as paths relative to the repository, or undefined. */
export function findCycle(graph: Map<string, string[]>): string[] | undefined {
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
    if (cycle) return cycle.map((file) => relative(ROOT, file));
  }
  return undefined;
}

t.test("src/ and infra/ import no module that imports them back", async (t) => {
  const graph = new Map([...sources(join(ROOT, "src")), ...sources(join(ROOT, "infra"))].map((file) => [file, importsOf(file)]));
  t.ok(graph.size > 50, `read ${graph.size} modules`);
  t.equal(findCycle(graph)?.join(" → "), undefined);
});

t.test("the cycle finder finds a cycle", async (t) => {
  t.same(findCycle(new Map([["/a", ["/b"]], ["/b", ["/c"]], ["/c", ["/a"]]])), ["/a", "/b", "/c", "/a"].map((f) => relative(ROOT, f)));
});
