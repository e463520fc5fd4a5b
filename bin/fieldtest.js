#!/usr/bin/env node
// The checkout's `fieldtest`: registers tsx and runs the CLI from its TypeScript sources, with
// no build step (the package's command is the compiled build/bin/fieldtest.js).
import { register } from "tsx/esm/api";

register();
await import("./fieldtest.ts");
