/**
 * The benchmark's simulated fleets and rollout specs, generated rather than written by hand:
 * (a)/(c) many 20-instance scale sets in waves, (b) many one-scale-set rollouts. Every Azure
 * duration is zero, so what is measured is orchestration, not waiting.
 */
import type { RolloutSpecInput } from "../src/domain/spec.ts";
import { parseScenario, type Scenario } from "../src/simulator/index.ts";

export const subscriptionId = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
export const resourceGroup = "rg-bench";
const gallery = "benchGallery";
const region = "westeurope";

export interface FleetShape {
  /** Scale sets of the wave rollout (a)/(c). */
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

/**
 * Versions, one per pass over the wave fleet so each pass moves every instance: 1.0.0 runs
 * everywhere at start; canaryd rolls out 2.0.0 (a), the baseline script 3.0.0, and canaryd 4.0.0
 * which fails in the last wave and is rolled back (c). The single fleet (b) goes to 2.0.0.
 */
export const versions = { initial: "1.0.0", canaryd: "2.0.0", baseline: "3.0.0", rollback: "4.0.0" } as const;

export const waveScaleSetName = (index: number, wave: number) => `a${String(index).padStart(3, "0")}-w${wave}`;
export const singleScaleSetName = (index: number) => `b${String(index).padStart(3, "0")}`;

export function scaleSetId(name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/${name}`;
}

export function imageVersionId(version: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.Compute/galleries/${gallery}/images/web/versions/${version}`;
}

/** Scale set i of the wave rollout belongs to wave 1 + floor(i * waves / count). */
export function waveOf(index: number, shape: FleetShape): number {
  return 1 + Math.floor((index * shape.waves) / shape.waveScaleSets);
}

export function waveScaleSetNames(shape: FleetShape): string[][] {
  const waves: string[][] = Array.from({ length: shape.waves }, () => []);
  for (let i = 0; i < shape.waveScaleSets; i++) waves[waveOf(i, shape) - 1]?.push(waveScaleSetName(i, waveOf(i, shape)));
  return waves;
}

export function benchScenario(shape: FleetShape): Scenario {
  const image = { gallery, image: "web", version: versions.initial };
  const scaleSets = [
    ...waveScaleSetNames(shape).flat().map((name) => ({ name, capacity: shape.waveInstances })),
    ...Array.from({ length: shape.singleRollouts }, (_, i) => ({
      name: singleScaleSetName(i),
      capacity: shape.singleInstances,
    })),
  ].map((s) => ({ ...s, location: region, upgradePolicy: "Manual", image }));
  const version = (name: string) => ({ name, targetRegions: [region], replication: { seconds: 0 } });
  return parseScenario({
    subscriptionId,
    timing: { modelUpdateSeconds: 0, instanceUpgradeSeconds: 0 },
    resourceGroups: [
      {
        name: resourceGroup,
        galleries: [
          {
            name: gallery,
            location: region,
            images: [
              {
                name: "web",
                versions: Object.values(versions).map(version),
              },
            ],
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
export function lastWaveFailurePattern(shape: FleetShape): string {
  return `^a\\d{3}-w${shape.waves}_\\d+ login:`;
}

const strategy = (maxParallelScaleSets: number) => ({
  canary: { instances: 1 },
  batchPercent: 50,
  bakeSeconds: 0,
  pauseBetweenBatchesSeconds: 0,
  approval: "none" as const,
  maxParallelScaleSets,
});

export function waveRolloutSpec(shape: FleetShape, version: string, failOn: string[] = []): RolloutSpecInput {
  const waves = waveScaleSetNames(shape);
  return {
    name: `bench-waves-${version}`,
    image: { galleryImageVersionId: imageVersionId(version) },
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

export function singleRolloutSpec(index: number): RolloutSpecInput {
  return {
    name: `bench-single-${index}`,
    image: { galleryImageVersionId: imageVersionId(versions.canaryd) },
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
