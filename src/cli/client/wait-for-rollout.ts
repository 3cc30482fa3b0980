/**
 * Waits for a rollout to become terminal by repeating the daemon's /wait long-poll. A connection
 * error (the daemon restarting) is retried until the deadline: the rollout's state lives in Redis,
 * so the next answer is as good as an uninterrupted one.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { ApiClient } from "./api-client.ts";
import { DaemonUnreachableError } from "./errors.ts";

export type WaitOutcome =
  | { kind: "terminal"; view: RolloutView }
  /** The deadline passed. `unreachable` when the daemon did not answer the last attempt. */
  | { kind: "timedOut"; view?: RolloutView; unreachable?: DaemonUnreachableError };

export interface WaitOptions {
  timeoutMs: number;
  /** Longest single long-poll (the daemon caps it too). */
  pollSeconds?: number;
  onUnreachable?: (error: DaemonUnreachableError) => void;
  now?: () => number;
  maxRetryDelayMs?: number;
  signal?: AbortSignal;
}

export async function waitForRollout(
  client: ApiClient,
  id: string,
  options: WaitOptions,
): Promise<WaitOutcome> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  const maxDelay = options.maxRetryDelayMs ?? 5000;
  let lastView: RolloutView | undefined;
  let unreachable: DaemonUnreachableError | undefined;
  let retryDelay = 250;
  for (;;) {
    const remaining = deadline - now();
    if (remaining <= 0) {
      return {
        kind: "timedOut",
        ...(lastView ? { view: lastView } : {}),
        ...(unreachable ? { unreachable } : {}),
      };
    }
    try {
      const seconds = Math.min(Math.ceil(remaining / 1000), options.pollSeconds ?? 60);
      const answer = await client.wait(id, seconds, options.signal);
      if (answer.terminal) return { kind: "terminal", view: answer.view };
      lastView = answer.view;
      unreachable = undefined;
      retryDelay = 250;
    } catch (err) {
      if (!(err instanceof DaemonUnreachableError)) throw err;
      unreachable = err;
      options.onUnreachable?.(err);
      await sleep(
        Math.min(retryDelay, Math.max(0, deadline - now())),
        undefined,
        options.signal ? { signal: options.signal } : {},
      );
      retryDelay = Math.min(retryDelay * 2, maxDelay);
    }
  }
}
