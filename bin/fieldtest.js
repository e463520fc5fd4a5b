#!/usr/bin/env node
// Entry point of `npx fieldtest`: registers tsx so the CLI and the user's scenario files run
// as TypeScript with no build step.
import { register as registerHooks } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

// dockerode's SSH transport builds "ssh:host:port" URLs that Node flags as deprecated
// (DEP0170); the warning tells a fieldtest user nothing they can act on.
process.noDeprecation = true;
register();
registerHooks("./resolve-fieldtest.mjs", import.meta.url, { data: { entry: new URL("../src/index.ts", import.meta.url).href } });
const { main } = await import("../src/cli/main.ts");
const { processContext } = await import("../src/cli/context.ts");
const packageRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const code = await main(process.argv.slice(2), processContext(packageRoot), (status) => process.exit(status));
// Exit now rather than when the event loop drains: an SSH-tunnelled Docker client can keep
// idle connections open for a while after the command is done (stdout/stderr are synchronous
// for files and pipes on Linux, so nothing written is lost).
process.exit(code);
