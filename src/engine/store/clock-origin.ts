/**
 * Engines on one Redis share the accelerated clock's origin, so a timer set by one process fires
 * on time in another and the timeline's times never run backwards across a restart. The first
 * engine's origin wins; each recovery pass renews it, and it is forgotten once no engine has run
 * for the expiry, so a later demo does not start days ahead.
 */

import type { AcceleratedClock } from "../core/clock.ts";
import type { RedisClient } from "./redis-connection.ts";

export const clockOriginTtlMs = 3_600_000;

export async function shareClockOrigin(
  redis: RedisClient,
  key: string,
  clock: AcceleratedClock,
): Promise<void> {
  await redis.set(key, String(clock.origin), "PX", clockOriginTtlMs, "NX");
  const stored = Number(await redis.get(key));
  if (Number.isFinite(stored) && stored > 0) clock.origin = stored;
  await redis.pexpire(key, clockOriginTtlMs);
}
