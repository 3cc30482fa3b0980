import type { ApprovalCatalog } from "../../approvals/approval-store.ts";
import type { EmergencyStop } from "../../emergency-stop/emergency-stop.ts";
import type { RolloutService } from "../../engine/service/rollout-service.ts";
import type { InventoryService } from "../../inventory/inventory-service.ts";
import type { NotificationDeadLetter } from "../../notifications/notifier.ts";

/** What route modules need from buildApi. */
export interface RouteDeps {
  service: RolloutService;
  /** @fastify/rate-limit settings for routes that change something. */
  mutationRateLimit: { max: number; timeWindow: number };
  /** The fleet inventory; absent: /v1/inventory answers 503. */
  inventory?: InventoryService;
  /** The approved-version catalog; absent: /v1/approvals answers 503. */
  approvals?: ApprovalCatalog;
  /** The emergency stop; absent: /v1/stop answers 503. */
  emergencyStop?: Pick<EmergencyStop, "state" | "stop" | "clear">;
  /** Notification dead letters; absent: no subscriptions configured, the list is empty. */
  notifications?: { deadLetters(): Promise<NotificationDeadLetter[]> };
}
