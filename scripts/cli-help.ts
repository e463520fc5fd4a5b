// Every command of the `fieldtest` CLI with its `--help` text and its flags, read from the
// commander program itself: what docs/cli.md is generated from and what the docs are checked against.
import { homedir } from "node:os";
import { Writable } from "node:stream";
import type { Command } from "commander";
import { processContext } from "../src/cli/context.ts";
import { buildProgram } from "../src/cli/main.ts";
import { CLI_ENTRY, PACKAGE_ROOT, packageVersion } from "../src/core/package-files.ts";

export interface CommandHelp {
  /** The words after `fieldtest`: `[]` for the program, `["prometheus", "import"]`. */
  path: string[];
  /** What `fieldtest <path> --help` prints, at a fixed width of 100 columns, with `~` for the home directory. */
  help: string;
  /** Its long flags, `--help` and the program's own (`--version`) included. */
  flags: Set<string>;
}

/** The program's commands, depth first, each with its help and flags. */
export function cliHelp(): CommandHelp[] {
  let text = "";
  const capture = new Writable({ write: (chunk: Buffer, _encoding, done) => ((text += chunk.toString()), done()) });
  const context = { ...processContext({ packageRoot: PACKAGE_ROOT, entry: CLI_ENTRY, version: packageVersion() }), stdout: capture, env: {} };
  const program = buildProgram(context, () => {}, () => {
    throw new Error("the CLI asked to exit while its help was read");
  });
  const globalFlags = new Set(["--help", ...program.options.flatMap((option) => (option.long ? [option.long] : []))]);
  const commands: CommandHelp[] = [];
  const visit = (command: Command, path: string[]) => {
    command.configureHelp({ ...command.configureHelp(), helpWidth: 100 });
    text = "";
    command.outputHelp();
    const flags = new Set([...globalFlags, ...command.options.flatMap((option) => (option.long ? [option.long] : []))]);
    commands.push({ path, help: text.replaceAll(homedir(), "~"), flags });
    for (const sub of command.commands) visit(sub, [...path, sub.name()]);
  };
  visit(program, []);
  return commands;
}
