/** While preflight found the image still replicating: has it reached every scale set's region? */
import type { AzureAdapters } from "../azure/adapters.ts";
import { scaleSetRef } from "../azure/resource-id.ts";
import type { ImageReference } from "../domain/image.ts";
import type { RolloutSpec } from "../domain/spec.ts";
import type { EffectStep } from "./effect-executor.ts";
import { checkImageAvailability, type RegionTarget } from "./image-availability.ts";
import type { ScaleSetLocations } from "./scale-set-locations.ts";

export interface CheckReplicationDeps {
  azure: Pick<AzureAdapters, "gallery" | "marketplace">;
  locations: ScaleSetLocations;
}

export async function checkReplication(
  deps: CheckReplicationDeps,
  image: ImageReference,
  spec: RolloutSpec,
  now: Date,
  signal?: AbortSignal,
): Promise<EffectStep> {
  const targets: RegionTarget[] = [];
  for (const scaleSetId of new Set(spec.waves.flatMap((wave) => wave.scaleSets))) {
    targets.push({
      scaleSetId,
      subscriptionId: scaleSetRef(scaleSetId).subscriptionId,
      location: await deps.locations.locationOf(scaleSetId, signal),
    });
  }
  const { findings, replicating } = await checkImageAvailability(deps.azure, image, targets, now, signal);
  const status = findings.length > 0 ? "failed" : replicating.length > 0 ? "replicating" : "completed";
  return { done: true, outcome: { type: "replication.checked", status, findings } };
}
