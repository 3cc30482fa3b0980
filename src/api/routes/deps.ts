import type { RolloutService } from "../../engine/rollout-service.ts";

/** What route modules need from buildApi. */
export interface RouteDeps {
  service: RolloutService;
  /** @fastify/rate-limit settings for routes that change something. */
  mutationRateLimit: { max: number; timeWindow: number };
}
