import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The smallest stand-in for the Pulumi engine and resource monitor that Pulumi's own nodejs
 * runner (`@pulumi/pulumi/cmd/run`) accepts: real gRPC servers, built from the SDK's own
 * generated service definitions and the @grpc/grpc-js the SDK itself uses. Every call gets an
 * empty answer of its type (a preview: outputs unknown), and the monitor records what the
 * program registers, so a test can tell which program the runner loaded.
 */

const sdkRequire = createRequire(fileURLToPath(import.meta.resolve("@pulumi/pulumi")));
const grpc = sdkRequire("@grpc/grpc-js");
const resourceServices = sdkRequire("./proto/resource_grpc_pb.js");
const engineServices = sdkRequire("./proto/engine_grpc_pb.js");
const providerServices = sdkRequire("./proto/provider_grpc_pb.js");
const providerMessages = sdkRequire("./proto/provider_pb.js");
const { Struct } = sdkRequire("google-protobuf/google/protobuf/struct_pb.js");

export interface Registration {
  type: string;
  name: string;
  custom: boolean;
  /** The resource's inputs as the program sent them (unknown ones as the SDK's unknown marker; a dynamic resource's `__provider` among them). */
  inputs: Record<string, unknown>;
  /** The URNs of the resources it waits for. */
  dependencies: string[];
}

export interface EngineStandIn {
  /** `127.0.0.1:<port>`, for `--monitor` and `--engine`. */
  address: string;
  registrations: Registration[];
  /** The keys of the outputs the program's stack registered (its exports). */
  stackOutputs: () => string[] | undefined;
  /** What the program logged through the engine (errors included). */
  logs: string[];
  /** The methods called, in order: what the runner got to. */
  calls: string[];
  close: () => Promise<void>;
}

type Handler = (call: { request: any }, callback: (error: Error | null, response?: unknown) => void) => void;

/** Every method of `service` answers an empty response, unless `overrides` handles it. */
function implementation(service: Record<string, any>, overrides: Record<string, (request: any, empty: any) => unknown>, calls: string[]): Record<string, Handler> {
  return Object.fromEntries(
    Object.entries(service).map(([method, definition]) => [
      method,
      (call, callback) => {
        calls.push(method);
        const empty = definition.responseDeserialize(Buffer.alloc(0));
        try {
          callback(null, overrides[method] ? overrides[method]!(call.request, empty) : empty);
        } catch (error) {
          callback(error as Error);
        }
      },
    ]),
  );
}

export interface EngineOptions {
  /**
   * The outputs a custom resource already has, beyond its inputs (`undefined`: none), as the
   * engine previews an update of a stack: a resource that does not change answers its state, one
   * that will be rebuilt its inputs only, what its provider computes staying unknown.
   */
  stateOutputs?: (type: string, name: string, inputs: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** What the provider function `token` (`aws:ec2/getAmi:getAmi`) returns; without it, nothing known. */
  invokeResults?: Readonly<Record<string, Record<string, unknown>>>;
}

export async function startEngineStandIn(options: EngineOptions = {}): Promise<EngineStandIn> {
  const registrations: Registration[] = [];
  const logs: string[] = [];
  const calls: string[] = [];
  let rootUrn = "";
  let stackOutputs: string[] | undefined;
  // As the engine does, take messages of any size: an error the program logs can be large.
  const server = new grpc.Server({ "grpc.max_receive_message_length": -1 });
  server.addService(
    resourceServices.ResourceMonitorService,
    implementation(resourceServices.ResourceMonitorService, {
      registerResource: (request, response) => {
        const registration = { type: request.getType(), name: request.getName(), custom: request.getCustom(), inputs: request.getObject()?.toJavaScript() ?? {}, dependencies: request.getDependenciesList() };
        registrations.push(registration);
        if (options.stateOutputs && registration.custom) {
          const state = options.stateOutputs(registration.type, registration.name, registration.inputs);
          response.setObject(Struct.fromJavaScript({ ...registration.inputs, ...state } as Record<string, any>));
        }
        return response.setUrn(`urn:pulumi:stack::project::${registration.type}::${registration.name}`);
      },
      invoke: (request, response) => {
        const result = options.invokeResults?.[request.getTok()];
        return result ? response.setReturn(Struct.fromJavaScript(result as Record<string, any>)) : response;
      },
      registerResourceOutputs: (request, response) => {
        if (request.getUrn() === rootUrn) stackOutputs = Object.keys(request.getOutputs()?.toJavaScript() ?? {});
        return response;
      },
    }, calls),
  );
  server.addService(
    engineServices.EngineService,
    implementation(engineServices.EngineService, {
      log: (request, response) => {
        logs.push(request.getMessage().slice(0, 4000));
        return response;
      },
      setRootResource: (request, response) => {
        rootUrn = request.getUrn();
        return response;
      },
      getRootResource: (_request, response) => response.setUrn(rootUrn),
    }, calls),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error: Error | null, bound: number) => (error ? reject(error) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    registrations,
    stackOutputs: () => stackOutputs,
    logs,
    calls,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export interface RunnerLaunch {
  /** The language host's `--pwd`: the program directory. */
  pwd: string;
  /** The entry point the language host passes last: `.` for a folder `main`, else the file. */
  program: string;
  /** `runtime.options.nodeargs` of the project's Pulumi.yaml. */
  nodeArgs: string[];
  /** Resolved from `pwd`, as the language host does (`require.resolve` run there). */
  runPath: string;
  project: string;
  stack: string;
  /** Stack config by key (`fieldtest:target`), as the engine hands it over. */
  config: Record<string, string>;
}

/**
 * Runs Pulumi's runner as pulumi-language-nodejs starts it for a preview: node, the project's
 * nodeargs, the runner with --monitor/--engine/--project/--stack/--pwd/--dry-run and the entry
 * point; the config in PULUMI_CONFIG with keys as `<package>:config:<name>`.
 */
export function runPulumiRunner(launch: RunnerLaunch, engine: EngineStandIn): Promise<{ code: number | null; output: string }> {
  const config = Object.fromEntries(Object.entries(launch.config).map(([key, value]) => [key.replace(/^([^:]+):/, "$1:config:"), value]));
  const args = [
    ...launch.nodeArgs,
    launch.runPath,
    ...["--monitor", engine.address, "--engine", engine.address, "--project", launch.project, "--stack", launch.stack, "--pwd", launch.pwd, "--dry-run", "--parallel", "16"],
    launch.program,
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, PULUMI_CONFIG: JSON.stringify(config), PULUMI_CONFIG_SECRET_KEYS: "[]" };
  // `typescript: false` in Pulumi.yaml: the language host does not set it.
  delete env["PULUMI_NODEJS_TYPESCRIPT"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: launch.pwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

export interface DynamicProviderPlugin {
  /** The provider's Delete RPC, as the engine calls it at `destroy`: the resource's stored state, `__provider` included. */
  delete(id: string, properties: Record<string, unknown>): Promise<void>;
  close(): void;
}

/**
 * Pulumi's plugin for dynamic resources, started as the engine starts it: the SDK's own
 * `pulumi-resource-pulumi-nodejs` script, in the folder of the project's `main` (the plugin
 * context's pwd), with the environment of the CLI. It loads each resource's `__provider` text
 * from the state it is given; it prints the port of its gRPC server.
 */
export async function startDynamicProviderPlugin(pwd: string): Promise<DynamicProviderPlugin> {
  const script = join(dirname(createRequire(join(pwd, "package.json")).resolve("@pulumi/pulumi/package.json")), "pulumi-resource-pulumi-nodejs");
  // In a process group of its own: the script's node is its child, and both end at close.
  const child = spawn("sh", [script, "127.0.0.1:1"], { cwd: pwd, env: { ...process.env, NODE_OPTIONS: "" }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = /^(\d+)\n/.exec(stdout);
      if (line) resolve(line[1]!);
    });
    child.on("close", (code) => reject(new Error(`the dynamic provider plugin exited (${code}) before serving: ${stderr}`)));
  });
  const client = new providerServices.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    delete: (id, properties) =>
      new Promise((resolve, reject) => {
        const request = new providerMessages.DeleteRequest();
        request.setId(id);
        request.setUrn(`urn:pulumi:stack::project::pulumi-nodejs:dynamic:Resource::${id}`);
        request.setProperties(Struct.fromJavaScript(properties));
        client.delete(request, (error: Error | null) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve()));
      }),
    close: () => {
      client.close();
      process.kill(-child.pid!);
    },
  };
}
