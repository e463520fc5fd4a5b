// The modules and packages a set of entry modules load, read from their import statements:
// what keeps a program (the Pulumi program, the CLI's start) from loading what it does not need.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

const SPECIFIER = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|(?:^|[^\w.])import\s*\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;

/**
 * Every project module and every package that `entries` load, transitively. With `dynamic`
 * false, `import("…")` is left out: what a module loads only when a function of it runs.
 */
export function importGraph(entries: readonly string[], { dynamic = true } = {}): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const pending = [...entries];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (modules.has(file)) continue;
    modules.add(file);
    // Type-only imports (`import type …`, `typeof import("…")`) are erased: they load nothing.
    const code = readFileSync(file, "utf8")
      .replace(/^\s*import\s+type\s[^;]*;/gm, "")
      .replace(/typeof\s+import\s*\(\s*["'][^"']+["']\s*\)/g, "");
    for (const match of code.matchAll(SPECIFIER)) {
      if (match[2] !== undefined && !dynamic) continue;
      const specifier = match[1] ?? match[2] ?? match[3]!;
      if (specifier.startsWith(".")) pending.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith("node:")) packages.add(specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/"));
    }
  }
  return { modules, packages };
}
