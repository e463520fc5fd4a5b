#!/usr/bin/env node
// The `fieldtest` command. The package runs it compiled (build/bin/fieldtest.js); a checkout
// runs this source through tsx, from bin/fieldtest.js.
import { processContext } from "../src/cli/context.ts";
import { main } from "../src/cli/main.ts";
import { CLI_ENTRY, PACKAGE_ROOT, packageVersion } from "../src/core/package-files.ts";

// dockerode's SSH transport builds "ssh:host:port" URLs that Node flags as deprecated
// (DEP0170); the warning tells a fieldtest user nothing they can act on.
process.noDeprecation = true;
const context = processContext({ packageRoot: PACKAGE_ROOT, entry: CLI_ENTRY, version: packageVersion() });
const code = await main(process.argv.slice(2), context, (status) => process.exit(status));
// Exit now rather than when the event loop drains: an SSH-tunnelled Docker client can keep
// idle connections open for a while after the command is done (stdout/stderr are synchronous
// for files and pipes on Linux, so nothing written is lost).
process.exit(code);
