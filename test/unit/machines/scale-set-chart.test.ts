/**
 * The per-scale-set chart as a contract: the drawing in docs/ARCHITECTURE.md is the table, the
 * table refuses what it does not list, the parallel cap is the spec's value capped by the
 * operator's, and the explorer's invariant checks can fail (a check that cannot fail proves nothing).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generatedBlock, withGeneratedBlock } from "../../../machines/chart-diagram.ts";
import { type Decision, decide, startRollout } from "../../../machines/decide.ts";
import type { Effect } from "../../../src/domain/effects.ts";
import type { Transition } from "./explore.ts";
import { at, facts, makeSpec, scaleSetA, scaleSetB, scaleSetC, settings, success } from "./fixtures.ts";
import { checkTransition, InvariantViolation } from "./invariants.ts";

const fleet = [facts(scaleSetA, 2), facts(scaleSetB, 2), facts(scaleSetC, 2)];
const oneWave = { waves: [{ name: "all", scaleSets: [scaleSetA, scaleSetB, scaleSetC] }] };

function preflighted(spec = makeSpec(oneWave), cap?: number): Decision {
  const first = startRollout({
    rolloutId: "r1",
    spec,
    settings: cap === undefined ? settings : { ...settings, maxParallelScaleSets: cap },
    createdBy: "alice",
  });
  return decide(first.state, success(first.effects[0] as Effect, fleet));
}

describe("the scale-set chart", () => {
  it("is drawn in docs/ARCHITECTURE.md exactly as the table says (npm run docs:chart)", () => {
    const doc = readFileSync(new URL("../../../docs/ARCHITECTURE.md", import.meta.url), "utf8");
    // The formatter may pad the table's cells: compare the words, not the padding.
    const words = (text: string) => text.replace(/-{3,}/g, "---").replace(/[ \t]+/g, " ");
    expect(words(doc)).toContain(words(generatedBlock()));
    expect(words(withGeneratedBlock(doc))).toBe(words(doc));
  });

  it("refuses an outcome its state does not list, with a coded error", () => {
    const d = preflighted(makeSpec({ ...oneWave, strategy: { maxParallelScaleSets: 1 } }));
    const write = d.effects.find((e) => e.kind === "setModelImage") as Effect;
    expect(() =>
      decide(d.state, {
        type: "scaleSet.observed",
        scaleSetId: scaleSetA,
        newInstances: [],
        effectId: write.id,
        at,
      }),
    ).toThrow(/settingModel and got scaleSet.observed/);
  });

  it("moves as many scale sets at once as the spec asks, at most the engine's cap", () => {
    const writes = (d: Decision) => d.effects.filter((e) => e.kind === "setModelImage").length;
    expect(writes(preflighted(makeSpec({ ...oneWave, strategy: { maxParallelScaleSets: 1 } }), 4))).toBe(1);
    expect(writes(preflighted(makeSpec({ ...oneWave, strategy: { maxParallelScaleSets: 3 } }), 4))).toBe(3);
    expect(writes(preflighted(makeSpec({ ...oneWave, strategy: { maxParallelScaleSets: 3 } }), 2))).toBe(2);
  });
});

describe("the explorer's invariants can fail", () => {
  it("reports a scale set counted rolled back while an instance that appeared is still on the target", () => {
    const d = preflighted();
    const from = { state: d.state, world: { faults: 0, models: {}, instances: {} } };
    const rolled = structuredClone(d.state);
    rolled.revision += 1;
    rolled.state = "rolledBack";
    rolled.context.reason = "drill";
    rolled.context.pending = {};
    for (const ss of rolled.context.scaleSets) ss.state = "rolledBack";
    const transition: Transition = {
      from,
      event: { type: "rollback", actor: { id: "bob" }, at },
      decision: { state: rolled, effects: [], timeline: [{ type: "x", message: "x", actor: "bob" }] },
      to: {
        state: rolled,
        world: {
          faults: 1,
          models: { [scaleSetA]: "prev", [scaleSetB]: "prev", [scaleSetC]: "prev" },
          instances: { [scaleSetA]: { "0": "prev", "9": "target" }, [scaleSetB]: {}, [scaleSetC]: {} },
        },
      },
    };
    expect(() => checkTransition(transition)).toThrow(InvariantViolation);
    expect(() => checkTransition(transition)).toThrow(/instance 9 still on target/);
  });
});
