/**
 * A scripted stand-in for the Azure executors: a plain function over an in-memory fleet, so the
 * engine's mechanics (outbox, recovery, locks, timers) can be tested deterministically. It counts
 * every call, so tests can assert that no effect was carried out twice.
 */
import type { Effect, GateVerdict } from "../../../../src/domain/effects.ts";
import type { InstanceFacts, ScaleSetFacts } from "../../../../src/domain/fleet.ts";
import type { ImageReference } from "../../../../src/domain/image.ts";
import { sameImage } from "../../../../src/domain/image-reference.ts";
import { sameScaleSet } from "../../../../src/domain/scale-set-id.ts";
import type { EffectStep, ExecuteEffect } from "../../../../src/effects/effect-executor.ts";

const sub =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-test/providers/Microsoft.Compute";
export const scaleSetId = (name: string) => `${sub}/virtualMachineScaleSets/${name}`;
export const galleryVersion = (v: string): ImageReference => ({
  id: `${sub}/galleries/testGallery/images/web/versions/${v}`,
});

interface FakeScaleSet {
  id: string;
  model: ImageReference;
  instances: Map<string, ImageReference>;
}

export interface EffectCall {
  rolloutId: string;
  effectId: string;
  kind: Effect["kind"];
  /** True for a call that started something (no progress handed back yet). */
  first: boolean;
}

export interface FakeFleetOptions {
  /** Instances per scale set. */
  size?: number;
  /** The verdict of a gate evaluation; default passed. */
  verdict?: (effect: Extract<Effect, { kind: "evaluateGates" }>) => GateVerdict;
  /** Awaited before every call: lets a test hold the fleet at a chosen effect. */
  before?: (effect: Effect) => Promise<void>;
}

export class FakeFleet {
  readonly scaleSets: FakeScaleSet[];
  readonly calls: EffectCall[] = [];
  /** How many times each instance was asked to take an image (a manual upgrade started). */
  readonly upgradeStarts = new Map<string, number>();
  readonly options: FakeFleetOptions;

  constructor(names: string[], previous: ImageReference, options: FakeFleetOptions = {}) {
    this.options = options;
    const size = options.size ?? 4;
    this.scaleSets = names.map((name) => ({
      id: scaleSetId(name),
      model: previous,
      instances: new Map(Array.from({ length: size }, (_, i) => [String(i), previous])),
    }));
  }

  imagesOf(name: string): { model: ImageReference; instances: ImageReference[] } {
    const ss = this.find(scaleSetId(name));
    return { model: ss.model, instances: [...ss.instances.values()] };
  }

  /** Whether every one of these instances runs the image. */
  runs(id: string, instanceIds: string[], image: ImageReference): boolean {
    const ss = this.find(id);
    return instanceIds.every((i) => {
      const current = ss.instances.get(i);
      return current !== undefined && sameImage(current, image);
    });
  }

  callsOf(kind: Effect["kind"]): EffectCall[] {
    return this.calls.filter((c) => c.kind === kind);
  }

  /** Effects (rollout and effect id) that were started more than once. */
  startedTwice(): string[] {
    const starts = this.calls.filter((c) => c.first).map((c) => `${c.rolloutId}/${c.effectId}`);
    return starts.filter((s, i) => starts.indexOf(s) !== i);
  }

  readonly execute: ExecuteEffect = async (effect, context) => {
    await this.options.before?.(effect);
    this.calls.push({
      rolloutId: context.rolloutId,
      effectId: effect.id,
      kind: effect.kind,
      first: context.progress === undefined,
    });
    return this.answer(effect, context.progress);
  };

  private answer(effect: Effect, progress: Record<string, unknown> | undefined): EffectStep {
    switch (effect.kind) {
      case "preflight":
        return {
          done: true,
          outcome: {
            type: "preflight.passed",
            scaleSets: this.scaleSets.map((ss) => this.facts(ss)),
            resolvedImage: galleryVersion("1.1.0"),
            replication: "completed",
          },
        };
      case "checkReplication":
        return { done: true, outcome: { type: "replication.checked", status: "completed", findings: [] } };
      case "checkWindow":
        return { done: true, outcome: { type: "window.checked", open: true, closedBy: [] } };
      case "setModelImage": {
        const ss = this.find(effect.scaleSetId);
        ss.model = effect.target;
        return { done: true, outcome: { type: "model.updated", scaleSetId: effect.scaleSetId } };
      }
      case "revertModel": {
        const ss = this.find(effect.scaleSetId);
        ss.model = effect.previous;
        return { done: true, outcome: { type: "model.reverted", scaleSetId: effect.scaleSetId } };
      }
      case "upgradeInstances": {
        const ss = this.find(effect.scaleSetId);
        // Like a real manual upgrade: the first step starts it, a later step observes it done.
        if (progress === undefined) {
          for (const id of effect.instanceIds) {
            const key = `${ss.id}/${id}/${effect.image.id}`;
            this.upgradeStarts.set(key, (this.upgradeStarts.get(key) ?? 0) + 1);
            ss.instances.set(id, effect.image);
          }
          return { done: false, checkAgainInSeconds: 0.01, progress: { startedAt: "now" } };
        }
        return {
          done: true,
          outcome: {
            type: "instances.upgraded",
            scaleSetId: ss.id,
            instances: effect.instanceIds.map((id) => this.instance(ss, id)),
          },
        };
      }
      case "observeScaleSet":
        return {
          done: true,
          outcome: { type: "scaleSet.observed", scaleSetId: effect.scaleSetId, newInstances: [] },
        };
      case "inspectScaleSet": {
        const ss = this.find(effect.scaleSetId);
        return {
          done: true,
          outcome: {
            type: "scaleSet.inspected",
            scaleSetId: ss.id,
            modelOnImage: sameImage(ss.model, effect.image),
            model: ss.model,
            instances: [...ss.instances.keys()].map((id) => {
              const facts = this.instance(ss, id);
              return {
                instanceId: id,
                onImage: facts.imageReference !== undefined && sameImage(facts.imageReference, effect.image),
                onTarget:
                  effect.target !== undefined &&
                  facts.imageReference !== undefined &&
                  sameImage(facts.imageReference, effect.target),
                latestModelApplied: facts.latestModelApplied,
                protectedFromScaleSetActions: false,
                provisioningState: facts.provisioningState,
              };
            }),
          },
        };
      }
      case "evaluateGates": {
        const verdict = this.options.verdict?.(effect) ?? "passed";
        return {
          done: true,
          outcome: {
            type: "gates.evaluated",
            scaleSetId: effect.scaleSetId,
            verdict,
            results: [
              {
                gate: "instanceHealth",
                name: "instanceHealth",
                verdict,
                summary: `${effect.instanceIds.length} instance(s) ${verdict}`,
                measuredAt: new Date().toISOString(),
                instanceIds: effect.instanceIds,
                evidence: {},
              },
            ],
          },
        };
      }
      case "startTimer":
        throw new Error("timers are the engine's, never an executor's");
    }
  }

  private find(id: string): FakeScaleSet {
    const ss = this.scaleSets.find((s) => sameScaleSet(s.id, id));
    if (!ss) throw new Error(`no scale set ${id}`);
    return ss;
  }

  private instance(ss: FakeScaleSet, id: string): InstanceFacts {
    const image = ss.instances.get(id);
    return {
      instanceId: id,
      name: `vm_${id}`,
      protectedFromScaleSetActions: false,
      ...(image ? { imageReference: image } : {}),
      latestModelApplied: image !== undefined && sameImage(image, ss.model),
      provisioningState: "Succeeded",
      powerState: "running",
      errorCodes: [],
    };
  }

  private facts(ss: FakeScaleSet): ScaleSetFacts {
    return {
      id: ss.id,
      name: ss.id.split("/").pop() ?? ss.id,
      subscriptionId: "00000000-0000-0000-0000-000000000001",
      resourceGroup: "rg-test",
      location: "westeurope",
      orchestrationMode: "Uniform",
      upgradePolicyMode: "Manual",
      capacity: ss.instances.size,
      zones: [],
      imageReference: ss.model,
      instances: [...ss.instances.keys()].map((id) => this.instance(ss, id)),
    };
  }
}
