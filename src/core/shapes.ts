import { z } from "zod";
import type { CloudTarget } from "./defaults.ts";

/**
 * A shape is the size an agent group asks for: cores and RAM (and disk on clouds). On a cloud it
 * becomes the smallest machine type of the target's table that fits, as TestLooper's
 * `instance_types`; on localhost and SSH hosts it becomes the container's CPU and memory limits.
 */
export const shapeSchema = z.strictObject({
  cores: z.number().positive("must be more than 0 (fractions such as 0.5 are allowed)"),
  ramGb: z.number().positive("must be more than 0"),
  diskGb: z.number().int().min(10, "must be at least 10").max(10_000).optional(),
});
export type Shape = z.infer<typeof shapeSchema>;

/** One row of a machine-type table: what a type offers, as TestLooper writes `[{cores, ram_gb}, type]`. */
export const instanceTypeSchema = z.strictObject({
  cores: z.number().positive(),
  ramGb: z.number().positive(),
  machineType: z.string().min(1),
});
export type InstanceType = z.infer<typeof instanceTypeSchema>;

/** General-purpose types, smallest first; a stack overrides them with `fieldtest:instanceTypes`. */
export const DEFAULT_INSTANCE_TYPES: Record<CloudTarget, readonly InstanceType[]> = {
  gcp: [
    { cores: 2, ramGb: 2, machineType: "e2-small" },
    { cores: 2, ramGb: 4, machineType: "e2-medium" },
    { cores: 2, ramGb: 8, machineType: "e2-standard-2" },
    { cores: 4, ramGb: 16, machineType: "e2-standard-4" },
    { cores: 8, ramGb: 32, machineType: "e2-standard-8" },
    { cores: 16, ramGb: 64, machineType: "e2-standard-16" },
    { cores: 32, ramGb: 128, machineType: "e2-standard-32" },
    { cores: 32, ramGb: 256, machineType: "n2-highmem-32" },
  ],
  aws: [
    { cores: 2, ramGb: 2, machineType: "t3.small" },
    { cores: 2, ramGb: 4, machineType: "t3.medium" },
    { cores: 2, ramGb: 8, machineType: "t3.large" },
    { cores: 4, ramGb: 16, machineType: "t3.xlarge" },
    { cores: 8, ramGb: 32, machineType: "t3.2xlarge" },
    { cores: 16, ramGb: 64, machineType: "m5.4xlarge" },
    { cores: 32, ramGb: 128, machineType: "m5.8xlarge" },
    { cores: 32, ramGb: 256, machineType: "r5.8xlarge" },
  ],
};

export class ShapeError extends Error {}

/** The smallest type that fits the shape: fewest cores, then least RAM, as listed on ties. */
export function machineTypeFor(target: CloudTarget, shape: Shape, table: readonly InstanceType[] = DEFAULT_INSTANCE_TYPES[target]): InstanceType {
  const fitting = table
    .map((type, order) => ({ type, order }))
    .filter(({ type }) => type.cores >= shape.cores && type.ramGb >= shape.ramGb)
    .sort((a, b) => a.type.cores - b.type.cores || a.type.ramGb - b.type.ramGb || a.order - b.order);
  const best = fitting[0];
  if (!best) {
    const offered = table.map((t) => `${t.machineType} (${formatShape(t)})`).join(", ");
    throw new ShapeError(`no ${target} machine type fits ${formatShape(shape)}; the table holds ${offered || "nothing"}: shrink the shape, or add a type to fieldtest:instanceTypes`);
  }
  return best.type;
}

/** Cores and RAM of a named type, when the table knows it (for the plan's totals). */
export function sizeOfMachineType(target: CloudTarget, machineType: string, table: readonly InstanceType[] = DEFAULT_INSTANCE_TYPES[target]): Shape | undefined {
  const row = table.find((type) => type.machineType === machineType) ?? DEFAULT_INSTANCE_TYPES[target].find((type) => type.machineType === machineType);
  return row ? { cores: row.cores, ramGb: row.ramGb } : undefined;
}

/** `2 cores, 4 GB` (and the disk when given). */
export function formatShape(shape: Pick<Shape, "cores" | "ramGb"> & { diskGb?: number }): string {
  return `${shape.cores} core${shape.cores === 1 ? "" : "s"}, ${shape.ramGb} GB${shape.diskGb ? `, ${shape.diskGb} GB disk` : ""}`;
}

/** A container's limits from a shape: Docker's NanoCpus and Memory, the CPUs capped at the engine's own. */
export function containerLimits(shape: Shape, engineCpus: number): { NanoCpus: number; Memory: number } {
  return { NanoCpus: Math.round(Math.min(shape.cores, engineCpus) * 1e9), Memory: Math.round(shape.ramGb * 1024 ** 3) };
}

/** A machine-type table from a stack's `fieldtest:instanceTypes`, validated; undefined keeps the defaults. */
export function parseInstanceTypes(value: unknown, source: string): InstanceType[] | undefined {
  if (value === undefined) return undefined;
  const parsed = z.array(instanceTypeSchema).min(1).safeParse(typeof value === "string" ? JSON.parse(value) : value);
  if (!parsed.success) {
    throw new ShapeError(`${source}: fieldtest:instanceTypes must list [{cores, ramGb, machineType}, …]: ${parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`);
  }
  return parsed.data;
}
