/**
 * The simulated world: lookups by ARM id, image resolution, and the progress of upgrades,
 * replication and long-running operations over simulated time. Progress is computed lazily
 * (`settle`) whenever someone looks, so nothing runs between requests.
 */
import { randomUUID } from "node:crypto";
import type { SimClock } from "./clock.ts";
import type { Behaviour } from "./scenario.ts";
import type {
  GalleryVersionState,
  InstanceEpoch,
  InstanceState,
  OperationError,
  OperationState,
  ScaleSetState,
  SimState,
  WireImageReference,
} from "./state.ts";

const DEFAULT_BEHAVIOUR: Behaviour = {
  boot: "clean",
  health: "healthy",
  provisioning: "Succeeded",
  provisioningErrorCode: "OSProvisioningTimedOut",
  metrics: { "Percentage CPU": 27 },
  noise: 0.1,
  logs: {
    syslogErrorsPerMinute: 0,
    errorMessage: "web[812]: request failed: upstream connect error",
    heartbeat: true,
  },
};

/** Orders dotted versions numerically (1.10.0 after 1.9.0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Region display names as Gallery replication status reports them ("westeurope" -> "West Europe"). */
const DISPLAY_NAMES: Record<string, string> = {
  westeurope: "West Europe",
  northeurope: "North Europe",
  eastus: "East US",
  eastus2: "East US 2",
  westus: "West US",
  westus2: "West US 2",
  westus3: "West US 3",
  centralus: "Central US",
  uksouth: "UK South",
  swedencentral: "Sweden Central",
  germanywestcentral: "Germany West Central",
  francecentral: "France Central",
};

export function regionDisplayName(region: string): string {
  return DISPLAY_NAMES[region.toLowerCase()] ?? region;
}

export function normalizeRegion(region: string): string {
  return region.replace(/\s+/g, "").toLowerCase();
}

function sameReference(a: WireImageReference, b: WireImageReference): boolean {
  const norm = (v?: string) => (v ?? "").toLowerCase();
  return (
    norm(a.id) === norm(b.id) &&
    norm(a.publisher) === norm(b.publisher) &&
    norm(a.offer) === norm(b.offer) &&
    norm(a.sku) === norm(b.sku) &&
    norm(a.version) === norm(b.version)
  );
}

export type ReplicationState = "Replicating" | "Completed" | "Failed";

export class Fleet {
  readonly state: SimState;
  readonly clock: SimClock;
  readonly #scaleSets = new Map<string, ScaleSetState>();
  readonly #versions = new Map<string, GalleryVersionState>();
  readonly #operations = new Map<string, OperationState>();
  /**
   * What `settle` has to look at: instances with an upgrade in flight and operations in
   * progress. Every request settles first, so scanning the whole fleet there made each request
   * cost O(instances + operations ever started).
   */
  readonly #busy = new Set<InstanceState>();
  readonly #running = new Set<OperationState>();

  constructor(state: SimState, clock: SimClock) {
    this.state = state;
    this.clock = clock;
    for (const ss of state.scaleSets) this.#scaleSets.set(ss.id.toLowerCase(), ss);
    for (const v of state.galleryVersions) this.#versions.set(v.id.toLowerCase(), v);
    for (const op of state.operations) {
      this.#operations.set(op.id, op);
      if (op.status === "InProgress") this.#running.add(op);
    }
    for (const ss of state.scaleSets) {
      for (const instance of ss.instances) {
        if (instance.busyUntilSimMs !== undefined) this.#busy.add(instance);
        if (instance.epochs.length === 0) {
          instance.epochs.push({
            fromWallMs: instance.bootedAtWallMs,
            behaviourKey: this.behaviourKey(instance.image),
          });
        }
      }
    }
  }

  scaleSet(id: string): ScaleSetState | undefined {
    return this.#scaleSets.get(id.toLowerCase());
  }

  addScaleSet(ss: ScaleSetState): void {
    this.state.scaleSets.push(ss);
    this.#scaleSets.set(ss.id.toLowerCase(), ss);
  }

  galleryVersion(id: string): GalleryVersionState | undefined {
    return this.#versions.get(id.toLowerCase());
  }

  operation(id: string): OperationState | undefined {
    return this.#operations.get(id);
  }

  /** The exact version an image reference means now (`latest` resolves to the newest version). */
  resolve(image: WireImageReference): WireImageReference {
    return resolveImage(this.state, image);
  }

  behaviourKey(image: WireImageReference): string | null {
    if (image.id) {
      const version = image.exactVersion ?? image.id.split("/").pop() ?? "";
      const base = /\/versions\/[^/]+$/i.test(image.id)
        ? image.id.replace(/\/versions\/[^/]+$/i, "")
        : image.id;
      return `${base}/versions/${version}`.toLowerCase();
    }
    const version = image.exactVersion ?? image.version;
    return `marketplace:${image.publisher}/${image.offer}/${image.sku}/${version}`.toLowerCase();
  }

  behaviourOf(key: string | null): Behaviour | undefined {
    if (key === null) return undefined;
    if (key.startsWith("marketplace:")) {
      const [publisher, offer, sku, version] = key.slice("marketplace:".length).split("/");
      const image = this.state.marketplaceImages.find(
        (m) =>
          m.publisher.toLowerCase() === publisher &&
          m.offer.toLowerCase() === offer &&
          m.sku.toLowerCase() === sku,
      );
      return image?.versions.find((v) => v.name.toLowerCase() === version)?.behaviour ?? DEFAULT_BEHAVIOUR;
    }
    return this.#versions.get(key)?.behaviour ?? DEFAULT_BEHAVIOUR;
  }

  behaviourOfInstance(instance: InstanceState): Behaviour | undefined {
    if (instance.provisioningState === "Updating" || instance.provisioningState === "Creating")
      return undefined;
    return this.behaviourOf(this.behaviourKey(instance.image));
  }

  /** An instance being upgraded already has the new model (as in ARM); it is Updating until it boots. */
  latestModelApplied(ss: ScaleSetState, instance: InstanceState): boolean {
    return sameReference(ss.image, instance.pendingImage ?? instance.image);
  }

  replicationState(
    version: GalleryVersionState,
    region: string,
  ): { state: ReplicationState; progress: number } {
    const done = version.replicationSeconds * 1000;
    const elapsed = this.clock.simNow();
    const failed = version.failedRegions.some((r) => normalizeRegion(r) === normalizeRegion(region));
    if (elapsed >= done)
      return failed ? { state: "Failed", progress: 60 } : { state: "Completed", progress: 100 };
    const progress = Math.floor((elapsed / done) * (failed ? 60 : 100));
    return { state: "Replicating", progress };
  }

  /** Moves instances and operations forward to the current simulated time. */
  settle(): boolean {
    const simNow = this.clock.simNow();
    let changed = false;
    for (const instance of this.#busy) {
      if (instance.busyUntilSimMs === undefined) {
        this.#busy.delete(instance);
        continue;
      }
      if (instance.neverReturns || simNow < instance.busyUntilSimMs) continue;
      this.#finishBoot(instance, this.clock.wallAt(instance.busyUntilSimMs));
      this.#busy.delete(instance);
      changed = true;
    }
    for (const op of this.#running) {
      if (op.status === "InProgress" && !this.#settleOperation(op, simNow)) continue;
      this.#running.delete(op);
      changed = true;
    }
    return changed;
  }

  #finishBoot(instance: InstanceState, wallMs: number): void {
    const image = instance.pendingImage ?? instance.image;
    const key = this.behaviourKey(image);
    const behaviour = this.behaviourOf(key) ?? DEFAULT_BEHAVIOUR;
    instance.image = image;
    delete instance.pendingImage;
    delete instance.busyUntilSimMs;
    instance.bootedAtWallMs = wallMs;
    const failure =
      instance.failNextWith ??
      (behaviour.provisioning === "Failed" ? behaviour.provisioningErrorCode : undefined);
    delete instance.failNextWith;
    if (failure) {
      instance.provisioningState = "Failed";
      instance.errorCode = failure;
      pushEpoch(instance, { fromWallMs: wallMs, behaviourKey: null });
      return;
    }
    instance.provisioningState = "Succeeded";
    delete instance.errorCode;
    pushEpoch(instance, { fromWallMs: wallMs, behaviourKey: key });
  }

  #settleOperation(op: OperationState, simNow: number): boolean {
    const ss = this.scaleSet(op.scaleSetId);
    let error: OperationError | undefined;
    if (op.kind === "modelUpdate") {
      if (simNow < (op.dueSimMs ?? 0)) return false;
    } else {
      const instances = (ss?.instances ?? []).filter((i) => op.instanceIds.includes(i.instanceId));
      if (instances.some((i) => i.provisioningState === "Updating" || i.provisioningState === "Creating"))
        return false;
      const failed = instances.find((i) => i.provisioningState === "Failed");
      if (failed) {
        error = {
          code: failed.errorCode ?? "VMProvisioningFailed",
          message: `Virtual machine ${ss?.name}_${failed.instanceId} failed provisioning: ${failed.errorCode}.`,
        };
      }
    }
    error = op.failWith ?? error;
    op.status = error ? "Failed" : "Succeeded";
    if (error) op.error = error;
    op.endWallMs = this.clock.wallNow();
    return true;
  }

  /** As in ARM: a scale set whose last model write ended Failed reads `Failed` until a write succeeds. */
  lastModelWriteFailed(ss: ScaleSetState): boolean {
    const writes = this.state.operations.filter(
      (op) => op.scaleSetId === ss.id && (op.kind === "modelUpdate" || op.kind === "create"),
    );
    return writes.at(-1)?.status === "Failed";
  }

  activeOperation(ss: ScaleSetState): OperationState | undefined {
    for (const op of this.#running) if (op.status === "InProgress" && op.scaleSetId === ss.id) return op;
    return undefined;
  }

  startOperation(
    ss: ScaleSetState,
    kind: OperationState["kind"],
    fields: { instanceIds?: string[]; dueSimMs?: number; failWith?: OperationError },
  ): OperationState {
    const op: OperationState = {
      id: randomUUID(),
      scaleSetId: ss.id,
      location: ss.location,
      kind,
      returnsResource: kind === "modelUpdate" || kind === "create",
      status: "InProgress",
      startWallMs: this.clock.wallNow(),
      instanceIds: fields.instanceIds ?? [],
      ...(fields.dueSimMs !== undefined ? { dueSimMs: fields.dueSimMs } : {}),
      ...(fields.failWith ? { failWith: fields.failWith } : {}),
    };
    this.state.operations.push(op);
    this.#operations.set(op.id, op);
    this.#running.add(op);
    this.#pruneOperations();
    return op;
  }

  /** Puts instances into Updating; they come back running `image` after the upgrade time. */
  beginReboot(
    ss: ScaleSetState,
    instanceIds: string[],
    image: (instance: InstanceState) => WireImageReference,
  ): void {
    const simNow = this.clock.simNow();
    const wallNow = this.clock.wallNow();
    const until = simNow + this.state.timing.instanceUpgradeSeconds * 1000;
    for (const instance of ss.instances) {
      if (!instanceIds.includes(instance.instanceId)) continue;
      instance.pendingImage = this.resolve(image(instance));
      instance.provisioningState = "Updating";
      instance.busyUntilSimMs = until;
      this.#busy.add(instance);
      pushEpoch(instance, { fromWallMs: wallNow, behaviourKey: null });
    }
  }

  // ---- Per-instance version history (what the metrics endpoint reads) ----
  // `instance.epochs` records every change of what an instance runs: an upgrade's start (down,
  // key null) and its boot (the version's behaviour key), on the wall-clock axis metric timestamps
  // use. Past samples therefore show the version the instance ran then, and the age of that version.

  /**
   * What the instance ran at wall instant `wallMs`: the behaviour key (null: down) and since when.
   * Undefined before its recorded history. An instance without epochs runs its image since boot.
   */
  runningAt(
    instance: InstanceState,
    wallMs: number,
  ): { behaviourKey: string | null; sinceWallMs: number } | undefined {
    if (instance.epochs.length === 0) {
      return wallMs < instance.bootedAtWallMs
        ? undefined
        : { behaviourKey: this.behaviourKey(instance.image), sinceWallMs: instance.bootedAtWallMs };
    }
    let found: InstanceEpoch | undefined;
    for (const epoch of instance.epochs) {
      if (epoch.fromWallMs > wallMs) break;
      found = epoch;
    }
    return found && { behaviourKey: found.behaviourKey, sinceWallMs: found.fromWallMs };
  }

  /** The instance's recorded history, oldest first: from when it ran which version (null: down). */
  versionHistory(instance: InstanceState): { from: string; version: string | null }[] {
    return instance.epochs.map((epoch) => ({
      from: new Date(epoch.fromWallMs).toISOString(),
      version: epoch.behaviourKey === null ? null : (epoch.behaviourKey.split("/").pop() ?? null),
    }));
  }

  /** Keeps the operation list bounded: finished operations older than an hour are dropped. */
  #pruneOperations(): void {
    if (this.state.operations.length < 1000) return;
    const cutoff = this.clock.wallNow() - 3600_000;
    this.state.operations = this.state.operations.filter((op) => {
      const keep = op.status === "InProgress" || (op.endWallMs ?? op.startWallMs) > cutoff;
      if (!keep) this.#operations.delete(op.id);
      return keep;
    });
  }
}

function pushEpoch(instance: InstanceState, epoch: InstanceState["epochs"][number]): void {
  instance.epochs.push(epoch);
  if (instance.epochs.length > 20) instance.epochs.splice(0, instance.epochs.length - 20);
}

export function resolveImage(state: SimState, image: WireImageReference): WireImageReference {
  const { exactVersion: _ignored, ...requested } = image;
  if (requested.id) {
    const match = /\/versions\/([^/]+)$/i.exec(requested.id);
    if (match?.[1]) return { ...requested, exactVersion: match[1] };
    const latest = state.galleryVersions
      .filter((v) => v.imageId.toLowerCase() === requested.id?.toLowerCase() && !v.excludeFromLatest)
      .sort((a, b) => compareVersions(b.name, a.name))[0];
    return latest ? { ...requested, exactVersion: latest.name } : requested;
  }
  if (requested.version?.toLowerCase() === "latest") {
    const market = state.marketplaceImages.find(
      (m) =>
        m.publisher.toLowerCase() === requested.publisher?.toLowerCase() &&
        m.offer.toLowerCase() === requested.offer?.toLowerCase() &&
        m.sku.toLowerCase() === requested.sku?.toLowerCase(),
    );
    const newest = market?.versions.map((v) => v.name).sort((a, b) => compareVersions(b, a))[0];
    return newest ? { ...requested, exactVersion: newest } : requested;
  }
  return { ...requested, ...(requested.version ? { exactVersion: requested.version } : {}) };
}
