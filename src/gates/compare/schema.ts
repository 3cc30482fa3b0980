/**
 * The compare gate's spec: its zod schema lives with the other gate kinds in src/domain/spec.ts
 * (one discriminated union); this names its type for the gate's own files.
 */
import type { GateSpec } from "../../domain/spec.ts";

export type CompareGateSpec = Extract<GateSpec, { kind: "compare" }>;
