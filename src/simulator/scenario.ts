/** The scenario file: the fleet a fresh simulator starts from, and how each image version behaves. */
import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { armOutageSchema } from "./faults.ts";

const name = z.string().min(1);

/**
 * A metric level: an absolute value, or a change relative to the fleet's base level of that
 * metric (`metrics.baseline`), written as a signed percentage: "+60%" is 1.6 times the base.
 */
export const metricLevelSchema = z.union([
  z.number(),
  z.string().regex(/^[+-]\d+(\.\d+)?%$/, 'a signed percentage of the base level, e.g. "+60%"'),
]);
export type MetricLevel = z.infer<typeof metricLevelSchema>;

/**
 * How one metric of a version evolves with the time since an instance took the version: `initial`
 * (default: the fleet's base level) for `afterSeconds`, then a linear ramp over `rampSeconds` to
 * `level`, which it keeps. A bare number (or `{ level }`) is a steady level; `afterSeconds` alone
 * is a delayed onset; `rampSeconds` alone a ramp from `initial`.
 */
export const metricBehaviourSchema = z.union([
  metricLevelSchema,
  z.strictObject({
    level: metricLevelSchema,
    initial: metricLevelSchema.optional(),
    afterSeconds: z.number().min(0).default(0),
    rampSeconds: z.number().min(0).default(0),
  }),
]);
export type MetricBehaviour = z.infer<typeof metricBehaviourSchema>;

/** What an instance shows once it has booted an image version. */
export const behaviourSchema = z
  .object({
    boot: z.enum(["clean", "kernelPanic", "emergencyMode", "failedUnit", "cloudInitError"]).default("clean"),
    health: z.enum(["healthy", "unhealthy", "unknown"]).default("healthy"),
    provisioning: z.enum(["Succeeded", "Failed"]).default("Succeeded"),
    /** Error code an instance reports when provisioning fails. */
    provisioningErrorCode: z.string().default("OSProvisioningTimedOut"),
    /** Level per metric name (Azure Monitor names, e.g. "Percentage CPU"); see metricBehaviourSchema. */
    metrics: z.record(z.string(), metricBehaviourSchema).default({ "Percentage CPU": 27 }),
    /**
     * Per-minute noise relative to the level: heavy-tailed (Student-t, 3 degrees of freedom) with
     * the standard deviation of a uniform ±noise (0.1: sd 5.8 %).
     */
    noise: z.number().min(0).max(1).default(0.1),
    /**
     * What its instances write to Log Analytics (the simulator's Syslog and Heartbeat tables):
     * `syslogErrorsPerMinute` rows of severity `err` with `errorMessage` (0: only routine rows),
     * and a Heartbeat row per minute unless `heartbeat` is false (a heartbeat gap).
     */
    logs: z
      .strictObject({
        syslogErrorsPerMinute: z.number().int().min(0).max(30).default(0),
        errorMessage: z.string().min(1).default("web[812]: request failed: upstream connect error"),
        heartbeat: z.boolean().default(true),
      })
      .prefault({}),
  })
  .prefault({});
export type Behaviour = z.infer<typeof behaviourSchema>;

const replicationSchema = z
  .object({
    /** Simulated seconds from simulator start until each target region is done. */
    seconds: z.number().min(0).default(0),
    /** Short region names where replication ends Failed. */
    failedRegions: z.array(name).default([]),
  })
  .prefault({});

const galleryVersionSchema = z.object({
  name,
  /** Short region names (westeurope); the API shows them as display names. */
  targetRegions: z.array(name).min(1),
  replication: replicationSchema,
  endOfLifeDate: z.string().optional(),
  excludeFromLatest: z.boolean().default(false),
  publishedDate: z.string().optional(),
  behaviour: behaviourSchema,
});

const galleryImageSchema = z.object({
  name,
  osType: z.enum(["Linux", "Windows"]).default("Linux"),
  osState: z.enum(["Generalized", "Specialized"]).default("Generalized"),
  publisher: z.string().default("canaryd"),
  offer: z.string().default("demo"),
  sku: z.string().default("web"),
  versions: z.array(galleryVersionSchema).default([]),
});

const gallerySchema = z.object({
  name,
  location: name,
  images: z.array(galleryImageSchema).default([]),
});

/** An image reference as the scenario writes it: gallery shorthand, an ARM id, or a marketplace image. */
export const scenarioImageSchema = z.union([
  z.object({ gallery: name, image: name, version: name, resourceGroup: name.optional() }),
  z.object({ id: name }),
  z.object({ publisher: name, offer: name, sku: name, version: name }),
]);
export type ScenarioImage = z.infer<typeof scenarioImageSchema>;

const scaleSetSchema = z
  .object({
    name,
    location: name,
    sku: z.string().default("Standard_D2s_v5"),
    /** Instance ids; need not be contiguous. Defaults to 0..capacity-1. */
    instanceIds: z.array(z.string()).optional(),
    capacity: z.number().int().min(0).optional(),
    zones: z.array(z.string()).default([]),
    orchestrationMode: z.enum(["Uniform", "Flexible"]).default("Uniform"),
    upgradePolicy: z.enum(["Manual", "Automatic", "Rolling"]).default("Manual"),
    image: scenarioImageSchema,
    protectedInstances: z.array(z.string()).default([]),
    tags: z.record(z.string(), z.string()).default({}),
  })
  .refine((s) => s.instanceIds !== undefined || s.capacity !== undefined, {
    message: "give instanceIds or capacity",
  });

const resourceGroupSchema = z.object({
  name,
  galleries: z.array(gallerySchema).default([]),
  scaleSets: z.array(scaleSetSchema).default([]),
});

const marketplaceImageSchema = z.object({
  location: name,
  publisher: name,
  offer: name,
  sku: name,
  versions: z.array(z.object({ name, behaviour: behaviourSchema })).min(1),
});

const timingSchema = z
  .object({
    /** Simulated seconds a model write (PUT/PATCH) takes. */
    modelUpdateSeconds: z.number().min(0).default(2),
    /** Simulated seconds an instance takes to upgrade or reimage and boot. */
    instanceUpgradeSeconds: z.number().min(0).default(30),
  })
  .prefault({});

// --- events: things that happen to the fleet at a simulated time or after a request (scenario-events.ts) ---

/** What an event does; the same operations as the admin endpoint and `RunningSimulator`. */
export const eventActionSchema = z.discriminatedUnion("kind", [
  /** Adds `count` instances from the current model, with new instance ids. */
  z.object({ kind: z.literal("scaleOut"), scaleSet: name, count: z.number().int().min(1).max(1000) }),
  /** Automatic repair (Replace): the instance is deleted and a new one, with a new id, is created. */
  z.object({ kind: z.literal("repair"), scaleSet: name, instanceId: name }),
  /** Another actor sets the model's image (no instance is upgraded on a Manual scale set). */
  z.object({ kind: z.literal("foreignModelWrite"), scaleSet: name, image: scenarioImageSchema }),
  armOutageSchema,
]);
export type EventAction = z.infer<typeof eventActionSchema>;

export const scenarioEventSchema = z
  .object({
    name: z.string().optional(),
    /** Simulated seconds from the scenario's start. */
    at: z.number().min(0).optional(),
    /** The `occurrence`-th successful (status < 400) request to `operation` (on `scaleSet`, if given). */
    after: z
      .object({
        operation: name,
        scaleSet: name.optional(),
        occurrence: z.number().int().min(1).default(1),
      })
      .optional(),
    /** Simulated seconds between the trigger and the action (with `after`). */
    delaySeconds: z.number().min(0).default(0),
    action: eventActionSchema,
  })
  .refine((e) => (e.at === undefined) !== (e.after === undefined), {
    message: "give exactly one of at or after",
  });
export type ScenarioEvent = z.infer<typeof scenarioEventSchema>;
export type ScenarioEventInput = z.input<typeof scenarioEventSchema>;

/** An event must name a scale set the scenario defines (by name or ARM id), so a typo fails at load. */
function checkEventTargets(
  scenario: {
    subscriptionId: string;
    resourceGroups: { name: string; scaleSets: { name: string }[] }[];
    events: ScenarioEvent[];
  },
  ctx: z.RefinementCtx,
): void {
  const known = new Set<string>();
  for (const rg of scenario.resourceGroups) {
    for (const ss of rg.scaleSets) {
      known.add(ss.name.toLowerCase());
      known.add(
        `/subscriptions/${scenario.subscriptionId}/resourcegroups/${rg.name}/providers/microsoft.compute/virtualmachinescalesets/${ss.name}`.toLowerCase(),
      );
    }
  }
  scenario.events.forEach((event, i) => {
    const targets: [string, (string | number)[]][] = [];
    if ("scaleSet" in event.action) targets.push([event.action.scaleSet, ["action", "scaleSet"]]);
    if (event.after?.scaleSet) targets.push([event.after.scaleSet, ["after", "scaleSet"]]);
    for (const [target, path] of targets) {
      if (!known.has(target.toLowerCase()))
        ctx.addIssue({
          code: "custom",
          path: ["events", i, ...path],
          message: `no scale set ${target} in the scenario`,
        });
    }
  });
}

// --- end of events ---

/** How Azure Monitor's platform metrics look beyond each version's levels (see docs/simulator.md). */
const metricsModelSchema = z
  .object({
    /** The fleet's base level per metric: what relative levels ("+60%") and `initial` refer to. */
    baseline: z.record(z.string(), z.number()).default({}),
    /** Relative standard deviation of each instance's own offset from the level (0.04: ±4 %). */
    instanceSpread: z.number().min(0).max(1).default(0.04),
    /** Probability that one instance's minute is missing (as Azure Monitor now and then drops one). */
    missingMinuteRate: z.number().min(0).max(1).default(0),
    /** Simulated seconds before a minute's samples are readable: the newest minutes are absent. */
    ingestionDelaySeconds: z.number().min(0).default(0),
  })
  .prefault({});
export type MetricsModel = z.infer<typeof metricsModelSchema>;

export const scenarioSchema = z
  .object({
    subscriptionId: z.uuid(),
    /** Seeds every metric's noise: one seed reproduces the same series, another seed differs. */
    seed: z.union([z.number(), z.string()]).default(1),
    metrics: metricsModelSchema,
    timing: timingSchema,
    resourceGroups: z.array(resourceGroupSchema).min(1),
    marketplaceImages: z.array(marketplaceImageSchema).default([]),
    events: z.array(scenarioEventSchema).default([]),
  })
  .superRefine(checkEventTargets)
  .superRefine((scenario, ctx) => {
    // A scale set must run an image the scenario defines, or its instances would have no behaviour.
    scenario.resourceGroups.forEach((rg, g) => {
      const seen = new Set<string>();
      rg.scaleSets.forEach((ss, i) => {
        const path = ["resourceGroups", g, "scaleSets", i];
        if (seen.has(ss.name.toLowerCase()))
          ctx.addIssue({
            code: "custom",
            path: [...path, "name"],
            message: `duplicate scale set ${ss.name}`,
          });
        seen.add(ss.name.toLowerCase());
        const image = ss.image;
        if ("gallery" in image) {
          const owner = scenario.resourceGroups.find((r) => r.name === (image.resourceGroup ?? rg.name));
          const versions = owner?.galleries
            .find((x) => x.name === image.gallery)
            ?.images.find((x) => x.name === image.image)?.versions;
          if (!versions?.some((v) => v.name === image.version)) {
            ctx.addIssue({
              code: "custom",
              path: [...path, "image"],
              message: `no gallery image version ${image.gallery}/${image.image}/${image.version} in the scenario`,
            });
          }
        } else if ("publisher" in image) {
          const market = scenario.marketplaceImages.find(
            (m) => m.publisher === image.publisher && m.offer === image.offer && m.sku === image.sku,
          );
          if (
            !market ||
            (image.version !== "latest" && !market.versions.some((v) => v.name === image.version))
          ) {
            ctx.addIssue({
              code: "custom",
              path: [...path, "image"],
              message: `no marketplace image ${image.publisher}:${image.offer}:${image.sku}:${image.version} in the scenario`,
            });
          }
        }
      });
    });
  });
export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioScaleSet = z.infer<typeof scaleSetSchema>;
export type ScenarioGalleryVersion = z.infer<typeof galleryVersionSchema>;

export class ScenarioError extends Error {
  readonly code = "SIM_SCENARIO_INVALID";
}

export function parseScenario(input: unknown): Scenario {
  const result = scenarioSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new ScenarioError(`invalid scenario: ${issues.join("; ")}`);
  }
  return result.data;
}

export async function loadScenarioFile(path: string): Promise<Scenario> {
  return parseScenario(parse(await readFile(path, "utf8")));
}
