/** A stored rollout as people see it: the decider's description plus the store's metadata. */
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { Decider, PersistedState } from "../core/decider.ts";
import type { RolloutRecord } from "../store/rollout-store.ts";

export function viewOf<S extends PersistedState>(decider: Decider<S>, record: RolloutRecord<S>): RolloutView {
  return {
    ...decider.describe(record.state),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    createdBy: record.createdBy,
    revision: record.revision,
  };
}
