/** The simulated fleet as plain JSON: built from a scenario, persisted to and restored from the state file. */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Behaviour, MetricsModel, Scenario, ScenarioImage } from "./scenario.ts";

export const STATE_FORMAT_VERSION = 1;

/** `storageProfile.imageReference` as ARM carries it on the wire. */
export interface WireImageReference {
  id?: string;
  publisher?: string;
  offer?: string;
  sku?: string;
  version?: string;
  exactVersion?: string;
}

/** One stretch of an instance's life: from `fromWallMs` it ran the image with this behaviour key (null: down). */
export interface InstanceEpoch {
  fromWallMs: number;
  behaviourKey: string | null;
}

export interface InstanceState {
  instanceId: string;
  vmId: string;
  zone?: string;
  protectedFromScaleSetActions: boolean;
  /** The image the instance runs (requested reference plus the exact version it resolved to). */
  image: WireImageReference;
  provisioningState: "Succeeded" | "Updating" | "Failed" | "Creating";
  /** While Updating/Creating: the simulated instant the instance is back, and the image it will run. */
  busyUntilSimMs?: number;
  pendingImage?: WireImageReference;
  /** Fault: the instance never comes back from its next upgrade. */
  neverReturns?: boolean;
  /** Fault: the next upgrade ends with this provisioning error code. */
  failNextWith?: string;
  errorCode?: string;
  bootedAtWallMs: number;
  epochs: InstanceEpoch[];
}

export interface ScaleSetState {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  sku: string;
  zones: string[];
  orchestrationMode: "Uniform" | "Flexible";
  upgradePolicy: "Manual" | "Automatic" | "Rolling";
  image: WireImageReference;
  tags: Record<string, string>;
  uniqueId: string;
  timeCreated: string;
  instances: InstanceState[];
  // --- rollback-convergence operations (fleet-ops.ts); optional so older state files load ---
  /** Counts writes to the scale set resource; the wire `etag` is `"N"` (1 when absent). */
  etagVersion?: number;
  /** The highest numeric instance id ever used: new instances get higher ones, never a reused id. */
  highestInstanceId?: number;
}

export interface GalleryImageState {
  id: string;
  name: string;
  gallery: string;
  resourceGroup: string;
  location: string;
  osType: "Linux" | "Windows";
  osState: "Generalized" | "Specialized";
  identifier: { publisher: string; offer: string; sku: string };
}

export interface GalleryVersionState {
  id: string;
  name: string;
  imageId: string;
  location: string;
  targetRegions: string[];
  replicationSeconds: number;
  failedRegions: string[];
  endOfLifeDate?: string;
  excludeFromLatest: boolean;
  publishedDate: string;
  behaviour: Behaviour;
}

export interface MarketplaceImageState {
  location: string;
  publisher: string;
  offer: string;
  sku: string;
  versions: { name: string; behaviour: Behaviour }[];
}

export interface OperationError {
  code: string;
  message: string;
}

export interface OperationState {
  id: string;
  scaleSetId: string;
  location: string;
  kind: "modelUpdate" | "create" | "upgrade" | "reimage";
  /** `GET` on the Location URL answers the scale set (PUT/PATCH) or an empty 200 (POST). */
  returnsResource: boolean;
  status: "InProgress" | "Succeeded" | "Failed";
  startWallMs: number;
  endWallMs?: number;
  /** For model writes: the simulated instant the write completes. */
  dueSimMs?: number;
  instanceIds: string[];
  /** Fault: end Failed with this error regardless of the outcome. */
  failWith?: OperationError;
  error?: OperationError;
}

export interface SimState {
  formatVersion: number;
  subscriptionId: string;
  timing: Scenario["timing"];
  simMs: number;
  scaleSets: ScaleSetState[];
  galleryImages: GalleryImageState[];
  galleryVersions: GalleryVersionState[];
  marketplaceImages: MarketplaceImageState[];
  operations: OperationState[];
  /** Metric noise and ingestion (scenario `seed` and `metrics`); absent in older state files. */
  metricsModel?: SimMetricsModel;
}

// ---- Metrics model (per-instance version history lives in InstanceState.epochs) ----

/** What the metrics endpoint needs beyond the versions' behaviours: the seed and the model. */
export interface SimMetricsModel extends MetricsModel {
  seed: number | string;
}

export function metricsModelOf(scenario: Scenario): SimMetricsModel {
  return { seed: scenario.seed, ...scenario.metrics };
}

export function armPrefix(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute`;
}

export function galleryVersionId(
  sub: string,
  rg: string,
  gallery: string,
  image: string,
  version: string,
): string {
  return `${armPrefix(sub, rg)}/galleries/${gallery}/images/${image}/versions/${version}`;
}

export function scenarioImageToWire(sub: string, rg: string, image: ScenarioImage): WireImageReference {
  if ("gallery" in image) {
    return {
      id: galleryVersionId(sub, image.resourceGroup ?? rg, image.gallery, image.image, image.version),
    };
  }
  if ("id" in image) return { id: image.id };
  return { publisher: image.publisher, offer: image.offer, sku: image.sku, version: image.version };
}

/** Builds the initial state; `resolve` fills in the exact version an image reference means. */
export function stateFromScenario(
  scenario: Scenario,
  wallNowMs: number,
  resolve: (state: SimState, image: WireImageReference) => WireImageReference,
): SimState {
  const sub = scenario.subscriptionId;
  const state: SimState = {
    formatVersion: STATE_FORMAT_VERSION,
    subscriptionId: sub,
    timing: scenario.timing,
    simMs: 0,
    scaleSets: [],
    galleryImages: [],
    galleryVersions: [],
    marketplaceImages: scenario.marketplaceImages.map((m) => ({ ...m })),
    operations: [],
    metricsModel: metricsModelOf(scenario),
  };
  const published = new Date(wallNowMs).toISOString();
  for (const rg of scenario.resourceGroups) {
    for (const gallery of rg.galleries) {
      for (const image of gallery.images) {
        const imageId = `${armPrefix(sub, rg.name)}/galleries/${gallery.name}/images/${image.name}`;
        state.galleryImages.push({
          id: imageId,
          name: image.name,
          gallery: gallery.name,
          resourceGroup: rg.name,
          location: gallery.location,
          osType: image.osType,
          osState: image.osState,
          identifier: { publisher: image.publisher, offer: image.offer, sku: image.sku },
        });
        for (const version of image.versions) {
          state.galleryVersions.push({
            id: `${imageId}/versions/${version.name}`,
            name: version.name,
            imageId,
            location: gallery.location,
            targetRegions: version.targetRegions,
            replicationSeconds: version.replication.seconds,
            failedRegions: version.replication.failedRegions,
            ...(version.endOfLifeDate ? { endOfLifeDate: version.endOfLifeDate } : {}),
            excludeFromLatest: version.excludeFromLatest,
            publishedDate: version.publishedDate ?? published,
            behaviour: version.behaviour,
          });
        }
      }
    }
  }
  for (const rg of scenario.resourceGroups) {
    for (const ss of rg.scaleSets) {
      const model = scenarioImageToWire(sub, rg.name, ss.image);
      const ids = ss.instanceIds ?? Array.from({ length: ss.capacity ?? 0 }, (_, i) => String(i));
      const running = resolve(state, model);
      state.scaleSets.push({
        id: `${armPrefix(sub, rg.name)}/virtualMachineScaleSets/${ss.name}`,
        name: ss.name,
        resourceGroup: rg.name,
        location: ss.location,
        sku: ss.sku,
        zones: ss.zones,
        orchestrationMode: ss.orchestrationMode,
        upgradePolicy: ss.upgradePolicy,
        image: model,
        tags: ss.tags,
        uniqueId: randomUUID(),
        timeCreated: published,
        instances: ids.map((instanceId, index) => ({
          instanceId,
          vmId: randomUUID(),
          ...(ss.zones.length > 0 ? { zone: ss.zones[index % ss.zones.length] } : {}),
          protectedFromScaleSetActions: ss.protectedInstances.includes(instanceId),
          image: running,
          provisioningState: "Succeeded",
          bootedAtWallMs: wallNowMs - 24 * 3600_000,
          epochs: [],
        })),
      });
    }
  }
  return state;
}

export class StateFileError extends Error {
  readonly code = "SIM_STATE_FILE_INVALID";
}

export async function readStateFile(path: string): Promise<SimState | undefined> {
  if (!existsSync(path)) return undefined;
  const state = JSON.parse(await readFile(path, "utf8")) as SimState;
  if (state.formatVersion !== STATE_FORMAT_VERSION) {
    throw new StateFileError(
      `state file ${path} has format ${state.formatVersion}, expected ${STATE_FORMAT_VERSION}`,
    );
  }
  return state;
}

/**
 * Writes the state at most every `debounceMs`, atomically (temp file + rename), so a crash never
 * leaves a half-written state file and a burst of requests costs one write.
 */
export class StateWriter {
  readonly #path: string;
  readonly #debounceMs: number;
  readonly #snapshot: () => SimState;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(path: string, snapshot: () => SimState, debounceMs = 100) {
    this.#path = path;
    this.#snapshot = snapshot;
    this.#debounceMs = debounceMs;
  }

  schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A failed background write is reported, not fatal: the next change or close writes again.
      this.flush().catch((error: unknown) =>
        process.emitWarning(`cannot write simulator state: ${(error as Error).message}`, {
          code: "SIM_STATE_WRITE_FAILED",
        }),
      );
    }, this.#debounceMs);
  }

  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const text = JSON.stringify(this.#snapshot());
    this.#writing = this.#writing
      .catch(() => undefined)
      .then(async () => {
        const temp = `${this.#path}.${process.pid}.tmp`;
        await writeFile(temp, text);
        await rename(temp, this.#path);
      });
    await this.#writing;
  }
}
