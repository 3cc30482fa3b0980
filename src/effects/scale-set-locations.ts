/**
 * A scale set's region never changes, and metrics and replication checks need it on every poll:
 * remember it per executor instead of reading the model each time.
 */
import type { ComputeAdapter } from "../azure/compute.ts";

export interface ScaleSetLocations {
  locationOf(scaleSetId: string, signal?: AbortSignal): Promise<string>;
  remember(scaleSetId: string, location: string): void;
}

export function createScaleSetLocations(
  compute: Pick<ComputeAdapter, "readScaleSetModel">,
): ScaleSetLocations {
  const known = new Map<string, string>();
  return {
    async locationOf(scaleSetId, signal) {
      const cached = known.get(scaleSetId.toLowerCase());
      if (cached) return cached;
      const model = await compute.readScaleSetModel(scaleSetId, signal);
      known.set(scaleSetId.toLowerCase(), model.location);
      return model.location;
    },
    remember(scaleSetId, location) {
      known.set(scaleSetId.toLowerCase(), location);
    },
  };
}
