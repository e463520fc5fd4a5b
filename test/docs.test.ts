// The docs cannot drift from the code: every name they import from "fieldtest" (and every
// error class they name) is exported by src/index.ts, every `--flag` they give a `fieldtest`
// command is in that command's --help, and docs/cli.md is what `npm run docs:cli` writes today.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import ts from "typescript";
import { cliHelp, type CommandHelp } from "../scripts/cli-help.ts";
import { ROOT } from "./helpers/fleet.ts";

/** The hand-written pages: the README and docs/*.md, less the generated references. */
const PAGES = ["README.md", ...readdirSync(join(ROOT, "docs")).filter((name) => name.endsWith(".md") && name !== "cli.md").map((name) => `docs/${name}`)];
const text = (page: string) => readFileSync(join(ROOT, page), "utf8");

/**
 * Flags of other programs that the pages show (npm, node, pulumi, docker, iptables, the bench),
 * and the one docs/adding-a-target.md has a new target add.
 */
const NOT_FIELDTESTS = new Set(["--import", "--conditions", "--local", "--privileged", "--queue-bypass", "--omit", "--ignore-scripts", "--only", "--smoke", "--force", "--location", "--pwd", "--web", "--grep", "--filter", "--all", "--cpuset-cpus"]);

function exportedNames(): Set<string> {
  const source = ts.createSourceFile("index.ts", text("src/index.ts"), ts.ScriptTarget.Latest);
  const names = new Set<string>();
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) names.add(element.name.text);
    }
  }
  return names;
}

/** `import { a, type B } from "fieldtest"` in a page: a, B. */
function importedNames(page: string): string[] {
  return [...page.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+["']fieldtest["']/g)].flatMap((match) =>
    match[1]!.split(",").map((name) => name.trim().replace(/^type\s+/, "").split(/\s+as\s+/)[0]!).filter(Boolean),
  );
}

/** Each `fieldtest <command> …` of a page, up to the end of its code span, line or comment, with the flags in it. */
function invocations(page: string, commands: readonly CommandHelp[]): Array<{ command: CommandHelp; flags: string[]; text: string }> {
  const found = [];
  for (const line of page.split("\n")) {
    for (const match of line.matchAll(/(?<![\w/.-])fieldtest((?:\s+[a-z][\w-]*){1,2})/g)) {
      const words = match[1]!.trim().split(/\s+/);
      const command = [words, words.slice(0, 1)].map((path) => commands.find((c) => c.path.join(" ") === path.join(" "))).find(Boolean);
      if (!command) continue;
      let rest = line.slice(match.index);
      const inCode = (line.slice(0, match.index).match(/`/g) ?? []).length % 2 === 1;
      if (inCode && rest.includes("`")) rest = rest.slice(0, rest.indexOf("`"));
      rest = rest.split(/\s#\s/)[0]!;
      found.push({ command, flags: [...rest.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((flag) => flag[0]), text: rest.trim() });
    }
  }
  return found;
}

const commands = cliHelp();

t.test("every name the pages import from fieldtest, and every error class they name, is exported", async (t) => {
  const exported = exportedNames();
  t.ok(exported.has("runScenario") && exported.has("FaultRefusedError"), "the export list is read");
  for (const page of PAGES) {
    const names = [...importedNames(text(page)), ...[...text(page).matchAll(/`([A-Z][A-Za-z]*Error)`/g)].map((m) => m[1]!)];
    const missing = [...new Set(names)].filter((name) => !exported.has(name));
    t.same(missing, [], `${page}: ${names.length} names, all exported by src/index.ts`);
  }
});

t.test("every --flag a page gives a fieldtest command is in that command's --help", async (t) => {
  let checked = 0;
  for (const page of PAGES) {
    const wrong = invocations(text(page), commands).flatMap(({ command, flags, text }) =>
      flags.filter((flag) => !command.flags.has(flag)).map((flag) => `${flag} is not a flag of \`fieldtest ${command.path.join(" ")}\` (in: ${text})`),
    );
    checked += invocations(text(page), commands).length;
    t.same(wrong, [], page);
  }
  t.ok(checked > 50, `${checked} invocations checked`);
});

t.test("every --flag a page names in code is a flag of some fieldtest command, or of a tool the page runs", async (t) => {
  const known = new Set(commands.flatMap((command) => [...command.flags]));
  for (const page of PAGES) {
    const spans = [...text(page).matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
    const unknown = [...new Set(spans.flatMap((span) => [...span.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0])))].filter((flag) => !known.has(flag) && !NOT_FIELDTESTS.has(flag));
    t.same(unknown, [], page);
  }
});

t.test("the checks catch a wrong flag and a missing export", async (t) => {
  const page = "npx fieldtest run health --localhost --vms 3 --no-such-flag   # --comment-flag is ignored\n`fieldtest destroy --namespace a --keep` and fieldtest is fine";
  const found = invocations(page, commands);
  t.same(found.map(({ command, flags }) => [command.path.join(" "), flags.filter((flag) => !command.flags.has(flag))]), [
    ["run", ["--no-such-flag"]],
    ["destroy", ["--keep"]],
  ]);
  t.same(importedNames('import { defineScenario, type Agent, NoSuchThing as X } from "fieldtest";'), ["defineScenario", "Agent", "NoSuchThing"]);
  t.notOk(exportedNames().has("NoSuchThing"));
});

t.test("docs/api has a page for every export (npm run docs:api)", async (t) => {
  const pages = new Set(["classes", "interfaces", "type-aliases", "functions", "variables"].flatMap((kind) => {
    try {
      return readdirSync(join(ROOT, "docs", "api", kind)).map((file) => file.replace(/\.md$/, ""));
    } catch {
      return [];
    }
  }));
  const undocumented = [...exportedNames()].filter((name) => name !== "z" && !pages.has(name));
  t.same(undocumented, [], "every export of src/index.ts but the re-exported zod has its page");
});

t.test("docs/cli.md is the --help of today's commands (npm run docs:cli)", async (t) => {
  const reference = text("docs/cli.md");
  for (const { path, help } of commands) {
    t.ok(reference.includes(help.trimEnd()), `docs/cli.md has the current --help of fieldtest ${path.join(" ")}`);
  }
});
