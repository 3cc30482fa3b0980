/**
 * The rollout spec: the public contract users write in YAML or JSON. Names are fixed by the
 * product (extend, don't rename); everything but `name`, `image` and `waves` has a default.
 */
import { z } from "zod";
import { gateSchemas } from "../gates/registry.ts";

const scaleSetIdPattern =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/virtualMachineScaleSets\/[^/]+$/i;
const galleryVersionIdPattern =
  /^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.Compute\/galleries\/[^/]+\/images\/[^/]+\/versions\/[^/]+$/i;
const urnPattern = /^[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+$/;

/**
 * One member per registered gate kind: each kind's schema lives in its folder (src/gates/<kind>/)
 * and is listed once in src/gates/registry.ts. The registry's modules are zod and pure judges
 * only (no SDK, Redis or HTTP client is loaded through them).
 */
export const gateSchema = z.discriminatedUnion("kind", gateSchemas);

export const rolloutSpecSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-' only"),
  image: z.union([
    z.strictObject({
      galleryImageVersionId: z.string().regex(galleryVersionIdPattern, "a gallery image version resource id"),
    }),
    z.strictObject({ urn: z.string().regex(urnPattern, "publisher:offer:sku:version") }),
  ]),
  waves: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(64),
        scaleSets: z.array(z.string().regex(scaleSetIdPattern, "a scale set resource id")).min(1),
      }),
    )
    .min(1),
  strategy: z
    .strictObject({
      canary: z
        .union([
          z.strictObject({ instances: z.number().int().min(1) }),
          z.strictObject({ percent: z.number().gt(0).max(100) }),
        ])
        .default({ instances: 1 }),
      batchPercent: z.number().gt(0).max(100).default(50),
      bakeSeconds: z.number().int().min(0).max(86_400).default(300),
      pauseBetweenBatchesSeconds: z.number().int().min(0).max(86_400).default(0),
      maxUnhealthyPercent: z.number().min(0).max(100).default(0),
      approval: z.enum(["none", "afterCanary", "eachWave"]).default("none"),
      approvalTimeoutSeconds: z.number().int().min(1).optional(),
      /** Scale sets of one wave that move at the same time (capped by engine.maxParallelScaleSets). */
      maxParallelScaleSets: z.number().int().min(1).max(50).default(1),
      /**
       * Continuous analysis: from the canary batch's return until the scale set completes, every
       * gate is evaluated every intervalSeconds; a gate failing more than failureLimit times
       * fails the batch.
       */
      /**
       * Continuous analysis: from the canary batch's return until the scale set completes, every
       * gate is evaluated every intervalSeconds; a gate failing more than failureLimit times
       * fails the batch.
       */
      analysis: z
        .strictObject({
          intervalSeconds: z.number().int().min(10).max(3600).default(60),
          /** Failed evaluations a gate may have before it fails the batch. */
          failureLimit: z.number().int().min(0).max(100).default(0),
        })
        .prefault({}),
    })
    .prefault({}),
  gates: z.array(gateSchema).default([
    { kind: "instanceHealth", onInconclusive: "fail" },
    { kind: "bootDiagnostics", failOn: [], onInconclusive: "fail" },
  ]),
  rollback: z
    .strictObject({
      automatic: z.boolean().default(true),
      /** Largest share of a scale set's instances one rollback upgrade takes back at once. */
      batchPercent: z.number().gt(0).max(100).default(100),
    })
    .prefault({}),
  owner: z.string().max(200).optional(),
  changeRecord: z.string().max(200).optional(),
  /**
   * Go ahead although policy.requireApproval refuses the version: recorded in the timeline
   * (`policy.exception`) and the release record. Overrides only the approval rule.
   */
  exception: z
    .strictObject({ reason: z.string().min(1).max(1000), ticket: z.string().min(1).max(200) })
    .optional(),
  labels: z.record(z.string().max(63), z.string().max(256)).default({}),
});

export type RolloutSpec = z.output<typeof rolloutSpecSchema>;
export type RolloutSpecInput = z.input<typeof rolloutSpecSchema>;
export type GateSpec = z.output<typeof gateSchema>;
export type GateKind = GateSpec["kind"];

/** A gate's name in results and evidence: its own `name`, or its kind. */
export function gateName(gate: Pick<GateSpec, "kind" | "name">): string {
  return gate.name ?? gate.kind;
}
