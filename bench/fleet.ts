/**
 * The benchmark's simulated fleets and rollout specs, generated rather than written by hand.
 * Each workload gets its own scale sets, all starting on 1.0.0, so a workload that runs out of
 * time never changes what the next one starts from: `a…` for canaryd's wave rollout (a), `s…`
 * for the az-script baseline over the same shape, `c…` for the rollout rolled back from its last
 * wave (c), `b…` for the one-scale-set rollouts (b). Every Azure duration is zero by default, so
 * what is measured is orchestration, not waiting; figure (d) (bench/arm-realistic.ts) gives model
 * writes and upgrades realistic simulated durations instead.
 */
import type { RolloutSpecInput } from "../src/domain/spec.ts";
import { parseScenario, type Scenario } from "../src/simulator/index.ts";

export const subscriptionId = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
export const resourceGroup = "rg-bench";
const gallery = "benchGallery";
const region = "westeurope";

export interface FleetShape {
  /** Scale sets of a wave rollout (a)/(c) and of the baseline. */
  waveScaleSets: number;
  waveInstances: number;
  waves: number;
  /** One-scale-set rollouts of (b). */
  singleRollouts: number;
  singleInstances: number;
}

export const fullShape: FleetShape = {
  waveScaleSets: 100,
  waveInstances: 20,
  waves: 4,
  singleRollouts: 200,
  singleInstances: 10,
};

export const quickShape: FleetShape = {
  waveScaleSets: 20,
  waveInstances: 10,
  waves: 4,
  singleRollouts: 40,
  singleInstances: 10,
};

/** Every fleet starts on 1.0.0; every rollout moves it to 2.0.0. */
export const versions = { initial: "1.0.0", target: "2.0.0" } as const;

/**
 * Wave fleets, by the letter their scale set names start with; `t…` fleets are the failing trial
 * rollouts of bench/revert-latency.ts, one fleet per trial.
 */
export type WaveFleet = "a" | "s" | "c" | `t${string}`;

export const waveScaleSetName = (fleet: WaveFleet, index: number, wave: number) =>
  `${fleet}${String(index).padStart(3, "0")}-w${wave}`;
export const singleScaleSetName = (index: number) => `b${String(index).padStart(3, "0")}`;

export function scaleSetId(name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

export function imageVersionId(version: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/galleries/${gallery}/images/web/versions/${version}`;
}

/** Scale set i of a wave fleet belongs to wave 1 + floor(i * waves / count). */
export function waveOf(index: number, shape: FleetShape): number {
  return 1 + Math.floor((index * shape.waves) / shape.waveScaleSets);
}

export function waveScaleSetNames(fleet: WaveFleet, shape: FleetShape): string[][] {
  const waves: string[][] = Array.from({ length: shape.waves }, () => []);
  for (let i = 0; i < shape.waveScaleSets; i++) {
    const wave = waveOf(i, shape);
    waves[wave - 1]?.push(waveScaleSetName(fleet, i, wave));
  }
  return waves;
}

/** Simulated seconds a model write and an instance upgrade take: zero in `npm run bench`. */
export interface FleetTiming {
  modelUpdateSeconds: number;
  instanceUpgradeSeconds: number;
}

export function benchScenario(
  shape: FleetShape,
  timing: FleetTiming = { modelUpdateSeconds: 0, instanceUpgradeSeconds: 0 },
  waveFleets: WaveFleet[] = ["a", "s", "c"],
): Scenario {
  const image = { gallery, image: "web", version: versions.initial };
  const scaleSets = [
    ...waveFleets.flatMap((fleet) =>
      waveScaleSetNames(fleet, shape)
        .flat()
        .map((name) => ({ name, capacity: shape.waveInstances })),
    ),
    ...Array.from({ length: shape.singleRollouts }, (_, i) => ({
      name: singleScaleSetName(i),
      capacity: shape.singleInstances,
    })),
  ].map((s) => ({ ...s, location: region, upgradePolicy: "Manual", image }));
  const version = (name: string) => ({ name, targetRegions: [region], replication: { seconds: 0 } });
  return parseScenario({
    subscriptionId,
    timing,
    resourceGroups: [
      {
        name: resourceGroup,
        galleries: [
          {
            name: gallery,
            location: region,
            images: [{ name: "web", versions: Object.values(versions).map(version) }],
          },
        ],
        scaleSets,
      },
    ],
  });
}

/**
 * The boot-log pattern that makes (c) fail in its last wave only: the simulated serial console
 * ends with `<vm name> login:`, and VM names start with the scale set's name, which carries its
 * wave. It stands in for an image that breaks only on the last wave's hardware or configuration;
 * the real bootDiagnostics gate finds it on the last wave's canaries.
 */
export function lastWaveFailurePattern(shape: FleetShape, fleet: WaveFleet = "c"): string {
  return `^${fleet}\\d{3}-w${shape.waves}_\\d+ login:`;
}

const strategy = (maxParallelScaleSets: number) => ({
  canary: { instances: 1 },
  batchPercent: 50,
  bakeSeconds: 0,
  pauseBetweenBatchesSeconds: 0,
  approval: "none" as const,
  maxParallelScaleSets,
});

export function waveRolloutSpec(
  fleet: WaveFleet,
  shape: FleetShape,
  failOn: string[] = [],
): RolloutSpecInput {
  const waves = waveScaleSetNames(fleet, shape);
  return {
    name: `bench-waves-${fleet}`,
    image: { galleryImageVersionId: imageVersionId(versions.target) },
    waves: waves.map((names, i) => ({ name: `wave${i + 1}`, scaleSets: names.map(scaleSetId) })),
    strategy: strategy(Math.min(50, Math.max(...waves.map((w) => w.length)))),
    gates: [
      { kind: "instanceHealth", onInconclusive: "fail" },
      { kind: "bootDiagnostics", failOn, onInconclusive: "fail" },
    ],
    rollback: { automatic: true },
    owner: "bench",
  };
}

/** One scale set `b…` to `version` (default 2.0.0; back to 1.0.0 for a second rollout on it). */
export function singleRolloutSpec(index: number, version: string = versions.target): RolloutSpecInput {
  return {
    name: `bench-single-${index}`,
    image: { galleryImageVersionId: imageVersionId(version) },
    waves: [{ name: "only", scaleSets: [scaleSetId(singleScaleSetName(index))] }],
    strategy: strategy(1),
    gates: [
      { kind: "instanceHealth", onInconclusive: "fail" },
      { kind: "bootDiagnostics", failOn: [], onInconclusive: "fail" },
    ],
    rollback: { automatic: true },
    owner: "bench",
  };
}
