/**
 * Follows a rollout's timeline over Server-Sent Events. A dropped connection (a daemon restart)
 * is resumed with Last-Event-ID, so each entry is delivered once and in order.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createParser } from "eventsource-parser";
import type { TimelineEntry } from "../../domain/rollout-view.ts";
import type { ApiClient } from "./api-client.ts";
import { DaemonUnreachableError } from "./errors.ts";

export interface FollowOptions {
  onEntry: (entry: TimelineEntry) => void;
  /** Called when the connection dropped and a reconnect follows. */
  onReconnect?: (error: unknown) => void;
  signal: AbortSignal;
  afterSeq?: number;
  reconnectDelayMs?: number;
}

/** Resolves with the terminal phase when the daemon ends the stream, or undefined when aborted. */
export async function followEvents(
  client: ApiClient,
  id: string,
  options: FollowOptions,
): Promise<string | undefined> {
  let lastSeq = options.afterSeq;
  const delay = options.reconnectDelayMs ?? 1000;
  while (!options.signal.aborted) {
    let endPhase: string | undefined;
    try {
      const response = await client.events(id, lastSeq, options.signal);
      const parser = createParser({
        onEvent(message) {
          if (message.event === "timeline") {
            const entry = JSON.parse(message.data) as TimelineEntry;
            if (lastSeq !== undefined && entry.seq <= lastSeq) return;
            lastSeq = entry.seq;
            options.onEntry(entry);
          } else if (message.event === "end") {
            endPhase = (JSON.parse(message.data) as { phase: string }).phase;
          }
        },
      });
      const decoder = new TextDecoder();
      for await (const chunk of response.body ?? []) parser.feed(decoder.decode(chunk, { stream: true }));
      if (endPhase) return endPhase;
      options.onReconnect?.(new Error("the event stream closed"));
    } catch (err) {
      if (options.signal.aborted) return undefined;
      // Only a lost daemon is worth retrying; a refusal (401, 404) is final.
      if (!(err instanceof DaemonUnreachableError) && !isStreamError(err)) throw err;
      options.onReconnect?.(err);
    }
    await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
  }
  return undefined;
}

/** A body that breaks mid-stream (socket reset) surfaces as a TypeError from undici. */
function isStreamError(err: unknown): boolean {
  return (
    err instanceof TypeError || (err instanceof Error && /terminated|socket|ECONNRESET/i.test(err.message))
  );
}
