// The package's public surface: what scenario files and embedding programs import.
export { defineScenario, type FleetSpec, type GroupSpec, type Scenario, type ScenarioDefinition } from "./scenario/scenario.ts";
export { runScenario, type RunScenarioOptions, type ScenarioRun } from "./scenario/run-scenario.ts";
export { RunSession, RunStoppedError, type RunOutcome, type StopCause } from "./runs/session.ts";
export { AbortedError } from "./core/abort.ts";
export { parseRunSpec, readRunSpec, type RunSpec, type RunSpecInput, type Teardown } from "./runs/spec.ts";
export { RunInputError, type RunContext } from "./runs/context.ts";
export { ParamsError, parseScenarioParams, describeParams, type ParamDoc, type ParamsInput } from "./scenario/scenario-params.ts";
export { FleetError, scenarioGroups, agentNamesOf, type FleetGroup, type FleetOverrides } from "./scenario/scenario-fleet.ts";
export { DEFAULT_INSTANCE_TYPES, machineTypeFor, type InstanceType, type Shape } from "./core/shapes.ts";
/** The zod that fieldtest uses, for a scenario's `params`: `import { defineScenario, z } from "fieldtest"`. */
export { z } from "zod";
export type { Cloud } from "./runtime/cloud.ts";
export type { Agent, AgentExecOptions, WaitOptions, WriteFileOptions } from "./runtime/agent.ts";
export type { Daemon, DaemonExit, DaemonOutput, LogLine, RestartBackoff, RestartEvent, RestartPolicy, SpawnOptions, StopOptions } from "./runtime/daemon.ts";
export { Wait, WaitTimeoutError, type WaitContext, type WaitForHttpOptions, type WaitForPortOptions, type WaitStrategy, type WaitTarget } from "./runtime/wait/index.ts";
export type { OpInput, PendingOp, ScenarioHistory } from "./runtime/history/scenario-history.ts";
export type { CheckerName } from "./runtime/checkers/names.ts";
export type { Checker, CheckContext, CheckInput } from "./runtime/checkers/checker.ts";
export type { CompletedOp } from "./runtime/checkers/operations.ts";
export type { CheckerResult, Validity } from "./runtime/checkers/result.ts";
export { ExecError, ExecTimeoutError, type ExecOptions, type ExecResult } from "./transport/exec.ts";
export type { CopyResult } from "./runtime/copy.ts";
export { BroadcastError, type BroadcastResult } from "./runtime/broadcast.ts";
export { inventorySchema, parseInventory, type Inventory, type AgentSpec } from "./core/inventory.ts";
export { LABELS, parseTtl } from "./core/namespace.ts";
export { AgentConnectionError, HostKeyMismatchError } from "./transport/ssh-connection.ts";
