/** The bootDiagnostics gate's spec. */
import { z } from "zod";
import { gateNameField, onInconclusive } from "../schema-fields.ts";

export const bootDiagnosticsGateSchema = z.strictObject({
  name: gateNameField,
  kind: z.literal("bootDiagnostics"),
  /** Regular expressions added to the default failure patterns. */
  failOn: z.array(z.string().min(1)).default([]),
  onInconclusive,
});

export type BootDiagnosticsGateSpec = z.output<typeof bootDiagnosticsGateSchema>;
