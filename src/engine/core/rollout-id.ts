/** Rollout ids: time-ordered for humans, random enough to never collide; no ':' or '.' (job ids). */
import { randomBytes } from "node:crypto";

export function newRolloutId(now: Date): string {
  return `ro-${now.getTime().toString(36)}-${randomBytes(5).toString("hex")}`;
}
