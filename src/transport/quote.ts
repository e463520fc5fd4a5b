/**
 * POSIX shell quoting for argv passed over SSH, which only carries one command string:
 * every argument is single-quoted so `$`, `;`, backticks, globs and newlines arrive verbatim.
 */
export function quoteArg(arg: string): string {
  if (arg.includes("\0")) throw new Error(`argument ${JSON.stringify(arg)} contains a NUL byte, which no shell can carry`);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("argv is empty: give at least the program to run");
  return argv.map(quoteArg).join(" ");
}

/** A command as the user gave it: argv is quoted, a string is shell syntax taken as is. */
export type Command = string | readonly string[];

export function commandLine(command: Command): string {
  return typeof command === "string" ? command : quoteArgv(command);
}
