// The package's public surface: what scenario files and embedding programs import.
export { defineScenario, type FleetSpec, type GroupSpec, type Scenario, type ScenarioDefinition } from "./scenario.ts";
export { runScenario, type RunScenarioOptions, type ScenarioRun } from "./run-scenario.ts";
export { ParamsError, parseScenarioParams, describeParams, type ParamDoc, type ParamsInput } from "./scenario-params.ts";
export { FleetError, scenarioGroups, agentNamesOf, type FleetGroup, type FleetOverrides } from "./scenario-fleet.ts";
export { DEFAULT_INSTANCE_TYPES, machineTypeFor, type InstanceType, type Shape } from "./core/shapes.ts";
/** The zod that fieldtest uses, for a scenario's `params`: `import { defineScenario, z } from "fieldtest"`. */
export { z } from "zod";
export type { Cloud } from "./runtime/cloud.ts";
export type { Agent, WriteFileOptions } from "./runtime/agent.ts";
export type { Daemon, DaemonExit, DaemonOutput, LogLine, RestartBackoff, RestartEvent, RestartPolicy, SpawnOptions, StopOptions } from "./runtime/daemon.ts";
export { WaitTimeoutError, type WaitForHttpOptions, type WaitForPortOptions } from "./runtime/wait.ts";
export type { OpInput, PendingOp, ScenarioHistory } from "./history/scenario-history.ts";
export type { CheckerName } from "./checkers/names.ts";
export { ExecError, ExecTimeoutError, type ExecOptions, type ExecResult } from "./runtime/exec.ts";
export type { CopyResult } from "./runtime/copy.ts";
export { BroadcastError, type BroadcastResult } from "./runtime/broadcast.ts";
export { inventorySchema, parseInventory, type Inventory, type AgentSpec } from "./core/inventory.ts";
export { LABELS, parseTtl } from "./core/namespace.ts";
export { AgentConnectionError, HostKeyMismatchError } from "./runtime/ssh-connection.ts";
