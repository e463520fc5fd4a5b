// Entry point of the one-file bundle an orchestrator container on an SSH host runs
// (src/ssh-hosts/orchestrator-bundle.ts): the CLI, and fieldtest's exports for the scenario,
// which is bundled beside it and imports them from this very file (one module instance).
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { processContext } from "../src/cli/context.ts";
import { main } from "../src/cli/main.ts";

export * from "../src/index.ts";

/** fieldtest's version, written in by the bundler (src/runs/homes/runner-bundle.ts). */
declare const FIELDTEST_VERSION: string;

process.noDeprecation = true;
const entry = fileURLToPath(import.meta.url);
const context = processContext({ packageRoot: dirname(entry), entry, version: FIELDTEST_VERSION });
// Not awaited: the scenario's import of this module must not wait for the run to end.
void main(process.argv.slice(2), context, (status) => process.exit(status)).then((code) => process.exit(code));
