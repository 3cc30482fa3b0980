/**
 * Live timeline entries across daemon processes: the commit publishes each entry on the
 * rollout's channel; one subscriber connection per engine fans them out to local listeners
 * (SSE streams, waitForTerminal).
 */

import type { TimelineEntry } from "../../domain/rollout-view.ts";
import type { RedisClient } from "./redis-connection.ts";

export type TimelineListener = (entry: TimelineEntry) => void;

export class TimelineFeed {
  readonly subscriber: RedisClient;
  private readonly listeners = new Map<string, Set<TimelineListener>>();

  /** `subscriber` must be a dedicated connection: a subscribed connection runs no other command. */
  constructor(subscriber: RedisClient) {
    this.subscriber = subscriber;
    subscriber.on("message", (channel: string, message: string) => {
      const entry = JSON.parse(message) as TimelineEntry;
      for (const listener of this.listeners.get(channel) ?? []) listener(entry);
    });
  }

  async listen(channel: string, listener: TimelineListener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await this.subscriber.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      await this.subscriber.unsubscribe(channel);
    };
  }
}
