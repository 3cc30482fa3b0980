/**
 * Waits for a rollout to become terminal by repeating the daemon's /wait long-poll. While the
 * daemon is away (restarting, or up but not yet serving: 502/503/504) the call is retried until
 * the deadline: the rollout's state lives in Redis, so the next answer is as good as an
 * uninterrupted one.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { ApiClient } from "./api-client.ts";
import { ApiError, type CliError, DaemonUnreachableError } from "./errors.ts";

export type WaitOutcome =
  | { kind: "terminal"; view: RolloutView }
  /** The deadline passed. `unavailable` when the daemon did not serve the last attempt. */
  | { kind: "timedOut"; view?: RolloutView; unavailable?: CliError };

export interface WaitOptions {
  timeoutMs: number;
  /** Longest single long-poll (the daemon caps it too). */
  pollSeconds?: number;
  onUnavailable?: (error: CliError) => void;
  now?: () => number;
  maxRetryDelayMs?: number;
  signal?: AbortSignal;
}

/** Errors that say "not now" rather than "no": worth retrying until the deadline. */
export function isTransient(err: unknown): err is CliError {
  return (
    err instanceof DaemonUnreachableError || (err instanceof ApiError && [502, 503, 504].includes(err.status))
  );
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
  let unavailable: CliError | undefined;
  let retryDelay = 250;
  for (;;) {
    const remaining = deadline - now();
    if (remaining <= 0) {
      return {
        kind: "timedOut",
        ...(lastView ? { view: lastView } : {}),
        ...(unavailable ? { unavailable } : {}),
      };
    }
    try {
      const seconds = Math.min(Math.ceil(remaining / 1000), options.pollSeconds ?? 60);
      const answer = await client.wait(id, seconds, options.signal);
      if (answer.terminal) return { kind: "terminal", view: answer.view };
      lastView = answer.view;
      unavailable = undefined;
      retryDelay = 250;
    } catch (err) {
      if (!isTransient(err)) throw err;
      unavailable = err;
      options.onUnavailable?.(err);
      const pause = Math.min(retryDelay, Math.max(0, deadline - now()));
      await sleep(pause, undefined, options.signal ? { signal: options.signal } : {});
      retryDelay = Math.min(retryDelay * 2, maxDelay);
    }
  }
}
