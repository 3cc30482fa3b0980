/**
 * Streams a rollout's timeline as Server-Sent Events. Each entry's `seq` is the event id, so a
 * client that reconnects with `Last-Event-ID` resumes exactly after what it saw. Notifications
 * only trigger a re-read of the store after the last sequence sent: entries are never duplicated,
 * never reordered, and none is lost between the replay and the subscription.
 */
import type { ServerResponse } from "node:http";
import type { FastifyBaseLogger } from "fastify";
import { terminalPhases } from "../domain/rollout-view.ts";
import type { RolloutService } from "../engine/service/rollout-service.ts";

export interface TimelineStreamOptions {
  service: RolloutService;
  rolloutId: string;
  /** Send entries with a greater seq only (from Last-Event-ID). */
  afterSeq?: number;
  response: ServerResponse;
  heartbeatMs: number;
  log: FastifyBaseLogger;
}

/** What the server sends besides timeline entries: `end` (the rollout is terminal) and `error`. */
export function sseEvent(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Runs until the rollout is terminal, the client goes away, or `close()` is called. */
export function streamTimeline(options: TimelineStreamOptions): { done: Promise<void>; close: () => void } {
  const { service, rolloutId, response, log } = options;
  let lastSeq = options.afterSeq;
  let closed = false;
  let draining = false;
  let drainAgain = false;
  let unsubscribe: (() => Promise<void>) | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const heartbeat = setInterval(() => response.write(": heartbeat\n\n"), options.heartbeatMs);
  heartbeat.unref();

  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    if (!response.writableEnded) response.end();
    const stop = unsubscribe;
    unsubscribe = undefined;
    (stop ? stop() : Promise.resolve())
      .catch((err: unknown) => log.warn({ err }, "unsubscribing from the timeline failed"))
      .finally(finish);
  };
  response.on("close", close);

  const sendNewEntries = async () => {
    for (const entry of await service.timeline(rolloutId, lastSeq)) {
      if (closed) return;
      if (lastSeq !== undefined && entry.seq <= lastSeq) continue;
      response.write(sseEvent("timeline", entry, entry.seq));
      lastSeq = entry.seq;
    }
  };

  const drain = async () => {
    if (draining) {
      drainAgain = true;
      return;
    }
    draining = true;
    try {
      do {
        drainAgain = false;
        await sendNewEntries();
        const view = await service.get(rolloutId);
        if (closed) return;
        if (!view || terminalPhases.has(view.phase)) {
          // Entries written together with the terminal phase are sent before `end`.
          await sendNewEntries();
          if (!closed)
            response.write(sseEvent("end", { phase: view?.phase ?? "unknown", lastSeq: lastSeq ?? null }));
          close();
          return;
        }
      } while (drainAgain && !closed);
    } catch (err) {
      log.error({ err }, "timeline stream failed");
      if (!closed)
        response.write(sseEvent("error", { detail: "the timeline could not be read; reconnect to resume" }));
      close();
    } finally {
      draining = false;
    }
  };

  service
    .subscribe(rolloutId, () => void drain())
    .then((stop) => {
      if (closed) void stop();
      else unsubscribe = stop;
      return drain();
    })
    .catch((err: unknown) => {
      log.error({ err }, "subscribing to the timeline failed");
      close();
    });

  return { done, close };
}
