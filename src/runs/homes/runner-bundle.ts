import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { build, stop, type Plugin } from "esbuild";
import { CODE_EXTENSION, CODE_ROOT, codeFile, packageVersion } from "../../core/package-files.ts";

/** The CLI's bundle in a staging directory; the scenario's bundle imports fieldtest from it. */
export const CLI_BUNDLE = "fieldtest.mjs";
export const SCENARIO_BUNDLE = "scenario.mjs";
/** The website's thread, which the CLI's bundle starts from the file beside it (observe/website.ts). */
export const WEBSITE_WORKER_BUNDLE = "website-worker.mjs";

// CommonJS dependencies bundled into ESM still call require and read __dirname (ssh2, dockerode).
const ESM_BANNER = [
  'import { createRequire as __fieldtestRequire } from "node:module";',
  'import { fileURLToPath as __fieldtestPath } from "node:url";',
  "const require = __fieldtestRequire(import.meta.url);",
  "const __filename = __fieldtestPath(import.meta.url);",
  'const __dirname = __fieldtestPath(new URL(".", import.meta.url));',
].join(" ");

/** ssh2's native parts are optional; it falls back to pure JS without them. */
const EXTERNAL = ["cpu-features", "*.node"];

/** The page's files the website reads beside its module, and uPlot that it resolves from node_modules. */
const WEB_FILES = ["index.html", "app.js", "style.css"];
const UPLOT_FILES = ["uplot/dist/uPlot.iife.min.js", "uplot/dist/uPlot.min.css"];

export interface OrchestratorBundle {
  /** A temporary directory of this machine; `remove` deletes it. */
  dir: string;
  /** Paths relative to `dir` of everything the runner needs. */
  files: string[];
  /**
   * The scenario (or a module it bundles) names its own location (`import.meta.url`, `.dirname`,
   * `.filename`), as code reading a file beside itself does: such files are not in the bundle.
   */
  readsBesideItself: boolean;
  remove(): Promise<void>;
}

/**
 * The scenario's `fieldtest` (by name, or by path to fieldtest's own src/index.ts) is the CLI
 * bundle beside it, so both share one instance of fieldtest's modules.
 */
function fieldtestFromCliBundle(): Plugin {
  const index = codeFile("src/index");
  return {
    name: "fieldtest-from-cli-bundle",
    setup(on) {
      on.onResolve({ filter: /.*/ }, (args) => {
        const own = args.path === "fieldtest" || (args.path.startsWith(".") && [index, index.slice(0, -CODE_EXTENSION.length)].includes(resolve(args.resolveDir, args.path)));
        return own ? { path: `./${CLI_BUNDLE}`, external: true } : undefined;
      });
    },
  };
}

/**
 * Pulumi's automation API (with TypeScript, 11 MB) is only for cloud commands, which a detached
 * runner never gives; it is loaded lazily, so this stands in for it and fails only if used.
 */
const withoutPulumi: Plugin = {
  name: "without-pulumi",
  setup(on) {
    on.onResolve({ filter: /^@pulumi\// }, (args) => ({ path: args.path, namespace: "without-pulumi" }));
    on.onLoad({ filter: /.*/, namespace: "without-pulumi" }, () => ({
      contents: 'throw new Error("Pulumi is not in the orchestrator\'s bundle: run cloud commands where fieldtest is installed");',
      loader: "js",
    }));
  },
};

/**
 * fieldtest's CLI and a scenario as plain JavaScript for node, with what they read at run time,
 * so that a host runs them without fieldtest's node_modules (hundreds of MB) or tsx.
 */
export async function buildOrchestratorBundle(packageRoot: string, scenarioPath: string): Promise<OrchestratorBundle> {
  const dir = await mkdtemp(join(tmpdir(), "fieldtest-bundle-"));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const common = { bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "silent", banner: { js: ESM_BANNER } } as const;
    await build({ ...common, entryPoints: [codeFile("bin/orchestrator-entry")], outfile: join(dir, CLI_BUNDLE), external: EXTERNAL, plugins: [withoutPulumi], define: { FIELDTEST_VERSION: JSON.stringify(packageVersion()) } });
    await build({ ...common, entryPoints: [scenarioPath], outfile: join(dir, SCENARIO_BUNDLE), external: EXTERNAL, plugins: [fieldtestFromCliBundle()] });
    await build({ ...common, entryPoints: [codeFile("src/observe/website-worker")], outfile: join(dir, WEBSITE_WORKER_BUNDLE), external: EXTERNAL });
    await mkdir(join(dir, "web"));
    for (const name of WEB_FILES) await copyFile(join(CODE_ROOT, "src", "observe", "web", name), join(dir, "web", name));
    const require = createRequire(join(packageRoot, "package.json"));
    for (const file of UPLOT_FILES) {
      await mkdir(dirname(join(dir, "node_modules", file)), { recursive: true });
      await copyFile(require.resolve(file), join(dir, "node_modules", file));
    }
    // The banner (first line) names import.meta.url itself; the scenario's code comes after it.
    const scenarioCode = (await readFile(join(dir, SCENARIO_BUNDLE), "utf8")).split("\n").slice(1).join("\n");
    const readsBesideItself = /import\.meta\.(url|dirname|filename)\b/.test(scenarioCode);
    return { dir, readsBesideItself, files: [CLI_BUNDLE, SCENARIO_BUNDLE, WEBSITE_WORKER_BUNDLE, ...WEB_FILES.map((n) => `web/${n}`), ...UPLOT_FILES.map((f) => `node_modules/${f}`)], remove };
  } catch (error) {
    await remove();
    throw new Error(`bundling fieldtest and ${scenarioPath} for the orchestrator failed: ${(error as Error).message}`);
  } finally {
    // esbuild's service process would otherwise outlive this command for a moment.
    await stop();
  }
}
