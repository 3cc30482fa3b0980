/**
 * How a rollout snapshot is laid out in the fields of its Redis hash, schema 3:
 *
 * - `state`: the header, the snapshot without its spec and scale sets (phase, wave, pending
 *   effects, claims and counters live here), with `scaleSetCount`;
 * - `spec`: the rollout's spec, which never changes after the start (it lists every scale set,
 *   so it grows with the fleet: kept out of the header every step rewrites);
 * - `ss:<i>`: scale set i of `context.scaleSets`, one field each.
 *
 * A step changes the header and the few scale sets its outcomes concern. `decide` shares every
 * object it did not change with the snapshot it started from (decide.ts, immer drafts), so
 * `encodeSnapshot(next, base)` finds the changed parts by identity and the commit writes only
 * those: the cost of a step's write follows what the step changed, not the fleet's size.
 *
 * Correctness rests on the commit's revision check: `base` must be the snapshot at the revision
 * the commit replaces (the step loaded it), so the fields in Redis are `base`'s and a scale set
 * not written keeps its stored value, which is the one `next` shares.
 *
 * Migration: schema 2 (the release before, the whole snapshot as JSON in `state`) is read as it
 * is, and the first commit after it writes every part (`decodeSnapshot` marks such snapshots).
 * Any other version is returned untouched, and the engine refuses to step it with the version it
 * found (src/engine/core/step.ts `unsupportedSnapshot`); it is never misread.
 */
import type { ScaleSetProgress } from "./context.ts";
import { type PersistedRollout, rolloutSchemaVersion } from "./decide.ts";

type Context = PersistedRollout["context"];

/** The header as stored: the context without `spec` and `scaleSets` (schema 2 had both). */
interface StoredHeader extends Omit<PersistedRollout, "context"> {
  context: Omit<Context, "scaleSets" | "spec"> & Partial<Pick<Context, "scaleSets" | "spec">>;
  scaleSetCount?: number;
}

/** The previous release's layout: the whole snapshot in `state`. */
const wholeSchemaVersion = 2;

/** The field of scale set `index`. */
export const scaleSetField = (index: number) => `ss:${index}`;

/** Snapshots read in the schema-2 layout: their next commit writes every part. */
const unsplit = new WeakSet<PersistedRollout>();

/**
 * The fields to write for `state`: the header always, and each part (the spec, each scale set)
 * that is not the very object `base` held (all of them without `base`, or when `base` was read
 * in the old layout).
 */
export function encodeSnapshot(state: PersistedRollout, base?: PersistedRollout): [string, string][] {
  const { scaleSets, spec, ...context } = state.context;
  const header = { ...state, context, scaleSetCount: scaleSets.length };
  const fields: [string, string][] = [["state", JSON.stringify(header)]];
  const before = base && !unsplit.has(base) ? base.context : undefined;
  if (before?.spec !== spec) fields.push(["spec", JSON.stringify(spec)]);
  scaleSets.forEach((ss, i) => {
    if (before?.scaleSets[i] !== ss) fields.push([scaleSetField(i), JSON.stringify(ss)]);
  });
  return fields;
}

/** The snapshot from its hash's fields; undefined when the record has no `state`. */
export function decodeSnapshot(fields: Record<string, string | undefined>): PersistedRollout | undefined {
  if (fields.state === undefined) return undefined;
  const header = JSON.parse(fields.state) as StoredHeader;
  if (header.schemaVersion === wholeSchemaVersion) {
    // The previous release's layout: the same snapshot shape, whole in one field.
    const migrated = { ...(header as PersistedRollout), schemaVersion: rolloutSchemaVersion };
    unsplit.add(migrated);
    return migrated;
  }
  if (header.schemaVersion !== rolloutSchemaVersion) return header as PersistedRollout;
  const { scaleSetCount = 0, ...rest } = header;
  const part = (field: string) => {
    const json = fields[field];
    if (json === undefined) throw new Error(`rollout snapshot is missing field ${field}`);
    return JSON.parse(json);
  };
  const scaleSets: ScaleSetProgress[] = [];
  for (let i = 0; i < scaleSetCount; i += 1) scaleSets.push(part(scaleSetField(i)));
  return { ...rest, context: { ...rest.context, spec: part("spec"), scaleSets } } as PersistedRollout;
}
