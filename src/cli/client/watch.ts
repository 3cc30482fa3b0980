/**
 * `--wait` and `rollout wait`: long-poll until the rollout is terminal (surviving daemon restarts),
 * print live progress from the event stream meanwhile, and turn the outcome into the exit code.
 */
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { ApiClient } from "./api-client.ts";
import type { CliIo } from "./cli-io.ts";
import { formatDuration } from "./duration.ts";
import { exitCodeForPhase, exitCodes } from "./exit-codes.ts";
import { followEvents } from "./follow-events.ts";
import { formatEntry, formatView } from "./format.ts";
import { waitForRollout } from "./wait-for-rollout.ts";

export interface WatchOptions {
  timeoutMs: number;
  json: boolean;
  /** How long to let the event stream deliver its last entries once the rollout is terminal. */
  drainMs?: number;
  reconnectDelayMs?: number;
}

export async function watchRollout(
  client: ApiClient,
  io: CliIo,
  id: string,
  options: WatchOptions,
): Promise<number> {
  const following = new AbortController();
  const progress = options.json
    ? Promise.resolve(undefined)
    : followEvents(client, id, {
        signal: following.signal,
        onEntry: (entry) => io.out(formatEntry(entry)),
        ...(options.reconnectDelayMs !== undefined ? { reconnectDelayMs: options.reconnectDelayMs } : {}),
        // Progress is best effort: the long-poll below decides the outcome and reports outages.
      }).catch(() => undefined);

  let outage = false;
  const outcome = await waitForRollout(client, id, {
    timeoutMs: options.timeoutMs,
    onUnavailable: (err) => {
      if (!outage && !options.json) io.err(`${err.message}; retrying until the timeout`);
      outage = true;
    },
  }).catch((err: unknown) => {
    following.abort();
    throw err;
  });
  if (outcome.kind === "terminal") {
    // The daemon ends the stream after the terminal entry; give it a moment to deliver it.
    const drain = setTimeout(() => following.abort(), options.drainMs ?? 2000);
    await progress;
    clearTimeout(drain);
  } else {
    following.abort();
    await progress;
  }

  if (outcome.kind === "timedOut") {
    if (outcome.unavailable) {
      io.err(`gave up after ${formatDuration(options.timeoutMs)}: ${outcome.unavailable.message}`);
      return exitCodes.unreachable;
    }
    report(io, outcome.view, options.json, `timed out after ${formatDuration(options.timeoutMs)} waiting`);
    return exitCodes.timedOut;
  }
  report(io, outcome.view, options.json, `rollout ${outcome.view.id} ended: ${outcome.view.phase}`);
  return exitCodeForPhase(outcome.view.phase) ?? exitCodes.unexpected;
}

function report(io: CliIo, view: RolloutView | undefined, json: boolean, headline: string): void {
  if (json) {
    if (view) io.out(JSON.stringify(view, null, 2));
    return;
  }
  if (view) io.out(formatView(view));
  io.out(headline);
}
