// Writes docs/cli.md, the CLI reference, from the `--help` of every command (`npm run docs:cli`).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../src/core/package-files.ts";
import { cliHelp } from "./cli-help.ts";

const commands = cliHelp();
const sections = commands.map(({ path, help }) => {
  const name = ["fieldtest", ...path].join(" ");
  return `## ${name}\n\n\`\`\`text\n$ ${name} --help\n${help.trimEnd()}\n\`\`\`\n`;
});
const index = commands
  .filter(({ path }) => path.length > 0)
  .map(({ path }) => `[${path.join(" ")}](#${["fieldtest", ...path].join("-")})`)
  .join(" · ");
const page = `# CLI reference

Generated from \`--help\` by \`npm run docs:cli\` (scripts/cli-reference.ts); do not edit by hand.
Concepts and examples are in the other pages of [docs/](.).

${index}

${sections.join("\n")}`;
await writeFile(join(PACKAGE_ROOT, "docs", "cli.md"), page);
