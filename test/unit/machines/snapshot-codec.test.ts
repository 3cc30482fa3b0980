/**
 * The snapshot's storage layout (machines/snapshot-codec.ts): a step shares what it did not
 * change with the snapshot it started from, so a commit writes the header and only the scale
 * sets an outcome concerned; the previous release's layout is migrated, other versions are
 * handed back untouched for the engine to refuse.
 */
import { describe, expect, it } from "vitest";
import { type Decision, decide, startRollout } from "../../../machines/decide.ts";
import { decodeSnapshot, encodeSnapshot, scaleSetField } from "../../../machines/snapshot-codec.ts";
import type { Effect } from "../../../src/domain/effects.ts";
import { facts, makeSpec, scaleSetA, scaleSetB, scaleSetC, settings, success } from "./fixtures.ts";

const fleet = [facts(scaleSetA, 4), facts(scaleSetB, 2), facts(scaleSetC, 2)];

/** Started and past preflight: every scale set has its progress record. */
function afterPreflight(): Decision {
  const started = startRollout({ rolloutId: "r1", spec: makeSpec(), settings, createdBy: "alice" });
  return decide(started.state, success(started.effects[0] as Effect, fleet));
}

const fieldsOf = (pairs: [string, string][]) => Object.fromEntries(pairs);

describe("snapshot layout", () => {
  it("a step writes the header and only the scale set its outcome concerned", () => {
    const base = afterPreflight();
    const write = base.effects.find((e) => e.kind === "setModelImage") as Effect & { scaleSetId: string };
    const next = decide(base.state, success(write, fleet));
    expect(next.ignored).toBeUndefined();
    const index = next.state.context.scaleSets.findIndex((s) => s.id === write.scaleSetId);
    expect(encodeSnapshot(next.state, base.state).map(([field]) => field)).toEqual([
      "state",
      scaleSetField(index),
    ]);
    // Unchanged scale sets are the very objects of the snapshot before, not copies.
    next.state.context.scaleSets.forEach((ss, i) => {
      if (i !== index) expect(ss).toBe(base.state.context.scaleSets[i]);
    });
  });

  it("deciding never changes the snapshot it started from", () => {
    const base = afterPreflight();
    const before = JSON.stringify(base.state);
    for (const effect of base.effects) decide(base.state, success(effect, fleet));
    expect(JSON.stringify(base.state)).toBe(before);
  });

  it("reads back what it wrote, header and every scale set", () => {
    const { state } = afterPreflight();
    const decoded = decodeSnapshot(fieldsOf(encodeSnapshot(state)));
    expect(decoded).toEqual(state);
    const header = JSON.parse(fieldsOf(encodeSnapshot(state)).state ?? "{}");
    expect(header.context.scaleSets).toBeUndefined();
    expect(header.context.spec).toBeUndefined();
  });

  it("migrates the previous release's layout and writes every part at its first commit", () => {
    const base = afterPreflight();
    const old = decodeSnapshot({ state: JSON.stringify({ ...base.state, schemaVersion: 2 }) });
    expect(old).toEqual(base.state);
    if (!old) throw new Error("not decoded");
    const write = base.effects.find((e) => e.kind === "setModelImage") as Effect;
    const next = decide(old, success(write, fleet));
    const written = encodeSnapshot(next.state, old).map(([field]) => field);
    expect(written).toEqual([
      "state",
      "spec",
      ...base.state.context.scaleSets.map((_, i) => scaleSetField(i)),
    ]);
  });

  it("hands back a snapshot of an unknown version untouched, for the engine to refuse", () => {
    const { state } = afterPreflight();
    const future = decodeSnapshot({ state: JSON.stringify({ ...state, schemaVersion: 9 }) });
    expect(future?.schemaVersion).toBe(9);
    expect(() =>
      decide(
        future as typeof state,
        success(state.context.pending[Object.keys(state.context.pending)[0] ?? ""] as Effect, fleet),
      ),
    ).toThrow(expect.objectContaining({ code: "ROLLOUT_SCHEMA_VERSION" }));
  });

  it("names a missing scale set field instead of misreading the record", () => {
    const { state } = afterPreflight();
    const fields = fieldsOf(encodeSnapshot(state));
    delete fields[scaleSetField(1)];
    expect(() => decodeSnapshot(fields)).toThrow(/missing field ss:1/);
  });
});
