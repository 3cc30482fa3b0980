/**
 * A stored rollout as people see it: the decider's description plus the store's metadata. A
 * record of a snapshot schema the decider does not read is refused here, the one place every
 * read (get, list, wait) passes, as the step refuses to decide on it.
 */
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { Decider, PersistedState } from "../core/decider.ts";
import type { RolloutRecord } from "../store/rollout-store.ts";
import { unsupportedSnapshot } from "./rollout-service.ts";

export function viewOf<S extends PersistedState>(decider: Decider<S>, record: RolloutRecord<S>): RolloutView {
  if (record.state.schemaVersion !== decider.schemaVersion) {
    throw unsupportedSnapshot(record.id, record.state.schemaVersion, decider.schemaVersion);
  }
  return {
    ...decider.describe(record.state),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    createdBy: record.createdBy,
    revision: record.revision,
  };
}
