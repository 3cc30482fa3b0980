/**
 * The recovery pass: re-enqueues every outbox entry of every active rollout. It runs at start
 * (a crash between a commit and its enqueue left entries without jobs) and periodically (so a
 * surviving daemon also picks up what a killed one left). Job ids are deterministic and a
 * duplicate job finds its entry gone, so running it too often costs only Redis round trips.
 */
import type { Logger } from "pino";
import type { PersistedState } from "./decider.ts";
import type { EffectQueue } from "./effect-queue.ts";
import type { RolloutStore } from "./rollout-store.ts";

export async function recoverOutbox<S extends PersistedState>(
  store: RolloutStore<S>,
  queue: EffectQueue,
  logger: Logger,
): Promise<number> {
  let count = 0;
  for (const id of await store.activeIds()) {
    const entries = await store.outboxEntries(id);
    await queue.enqueue(id, entries);
    count += entries.length;
  }
  logger.debug({ entries: count }, "outbox recovery pass");
  return count;
}
