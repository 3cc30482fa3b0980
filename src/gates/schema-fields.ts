/**
 * Spec fields every gate kind (or several) shares: the optional name, onInconclusive, and the
 * Azure Monitor metric fields of the metric-based kinds. Zod only (no I/O): src/domain/spec.ts
 * loads these through the registry, so nothing here may import the domain at run time.
 */
import { z } from "zod";

export const onInconclusive = z.enum(["fail", "pause"]).default("fail");

/**
 * Optional on every gate: names it in results, evidence and onInconclusive handling, so two gates
 * of one kind stay apart. Defaults to the kind (see gateName); names are unique within a spec.
 */
export const gateNameField = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-' only")
  .optional();

export const metricNamespace = z.string().min(1).default("Microsoft.Compute/virtualMachineScaleSets");
export const metricAggregation = z
  .enum(["Average", "Maximum", "Minimum", "Total", "Count"])
  .default("Average");
