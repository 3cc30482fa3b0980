/**
 * The recovery pass: re-enqueues every outbox entry of every active rollout. It runs at start
 * (a crash between a commit and its enqueue left entries without jobs) and periodically (so a
 * surviving daemon also picks up what a killed one left). Job ids are deterministic and a
 * duplicate job finds its entry gone, so running it too often costs only Redis round trips.
 *
 * An entry whose effect was dead-lettered (given up on: see queue/effect-worker.ts) is never re-queued:
 * its effect must not run again. It stays in the outbox only when the step that was to answer it
 * failed (Redis away, a crash), so the pass answers it here with the recorded `effect.failed`.
 */
import type { Logger } from "pino";
import type { DeadLetter } from "../../domain/rollout-view.ts";
import { errorMessage } from "../../logging/redact.ts";
import type { PersistedState } from "../core/decider.ts";
import type { EffectQueue } from "../queue/effect-queue.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

export async function recoverOutbox<S extends PersistedState>(
  store: RolloutStore<S>,
  queue: EffectQueue,
  logger: Logger,
  answerDeadLetter: (letter: DeadLetter) => Promise<void>,
): Promise<number> {
  let count = 0;
  for (const id of await store.activeIds()) {
    const entries = await store.outboxEntries(id);
    const dead = new Map((await store.deadLetters(id)).map((letter) => [letter.effectId, letter]));
    const live = entries.filter((entry) => !dead.has(entry.effect.id));
    await queue.enqueue(id, live);
    for (const entry of entries) {
      const letter = dead.get(entry.effect.id);
      // One that cannot be answered now (lock busy, Redis away) must not stop the pass: the next retries it.
      if (letter)
        await answerDeadLetter(letter).catch((error: unknown) =>
          logger.warn(
            { rolloutId: id, effectId: letter.effectId, reason: errorMessage(error) },
            "dead-lettered effect not answered; the next pass retries",
          ),
        );
    }
    count += live.length;
  }
  logger.debug({ entries: count }, "outbox recovery pass");
  return count;
}
