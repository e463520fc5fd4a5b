import { register as registerHooks } from "node:module";
import { pathToFileURL } from "node:url";
import { BUNDLED, CODE_EXTENSION, codeFile, PACKAGE_ROOT } from "../core/package-files.ts";

/**
 * Loader hooks are process-wide and cannot be removed, so each is registered at most once per
 * process, and only when a scenario is loaded: the CLI itself starts without them.
 */
let fieldtestResolution: Promise<void> | undefined;
let typescript: Promise<void> | undefined;

/**
 * Readies the import of the scenario file at `path`: its `import … from "fieldtest"` gets this
 * fieldtest wherever the file is (a scenario in a folder with no node_modules), and a TypeScript
 * file (`.ts`, `.mts`, `.cts`) is compiled by tsx. From a checkout, tsx is already loaded; in
 * the orchestrator's bundle, the scenario is bundled JavaScript that imports fieldtest already.
 */
export function prepareScenarioImport(path: string): Promise<void> {
  if (BUNDLED) return Promise.resolve();
  fieldtestResolution ??= Promise.resolve().then(() => {
    registerHooks(pathToFileURL(`${PACKAGE_ROOT}/bin/resolve-fieldtest.mjs`), { data: { entry: pathToFileURL(codeFile("src/index")).href } });
  });
  if (CODE_EXTENSION === ".js" && /\.[mc]?ts$/.test(path)) {
    typescript ??= import("tsx/esm/api").then(({ register }) => void register());
  }
  return Promise.all([fieldtestResolution, typescript]).then(() => undefined);
}
