/** Builds the API over the in-memory service with real tokens and a captured log. */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { buildApi } from "../../../src/api/app.ts";
import { sha256Hex } from "../../../src/api/auth.ts";
import type { Approval, ApprovalCatalog } from "../../../src/approvals/approval-store.ts";
import type { Config } from "../../../src/config/schema.ts";
import type { InventoryReader } from "../../../src/inventory/arm-reader.ts";
import { InventoryService } from "../../../src/inventory/inventory-service.ts";
import type { NotificationDeadLetter } from "../../../src/notifications/notifier.ts";
import { defaultConfig } from "../../support/default-config.ts";
import { InMemoryRolloutService } from "./in-memory-rollout-service.ts";

export const scaleSetA =
  "/subscriptions/sub-1/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";
export const scaleSetB =
  "/subscriptions/sub-1/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-b";
export const imageVersion =
  "/subscriptions/sub-1/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/demoGallery/images/web/versions/1.1.0";

export const validSpec = (scaleSets: string[] = [scaleSetA]) => ({
  name: "web-1.1.0",
  image: { galleryImageVersionId: imageVersion },
  waves: [{ name: "first", scaleSets }],
});

export interface HarnessOptions {
  authDisabled?: boolean;
  mutationsPerMinute?: number;
  bodyLimitBytes?: number;
  heartbeatMs?: number;
  /** Reuse state and tokens across a simulated daemon restart. */
  service?: InMemoryRolloutService;
  tokens?: Record<"viewer" | "deployer" | "oncall", string>;
  /** Notification dead letters for GET /v1/notifications/deadletters. */
  notifications?: { deadLetters(): Promise<NotificationDeadLetter[]> };
  /** What GET /v1/inventory reads; absent: an empty fleet. */
  inventoryReader?: InventoryReader;
}

export async function buildHarness(options: HarnessOptions = {}) {
  const tokens = options.tokens ?? {
    viewer: randomBytes(32).toString("base64url"),
    deployer: randomBytes(32).toString("base64url"),
    oncall: randomBytes(32).toString("base64url"),
  };
  const config: Pick<Config, "server" | "auth"> = {
    server: {
      host: "127.0.0.1",
      port: 0,
      bodyLimitBytes: options.bodyLimitBytes ?? 64 * 1024,
      mutationsPerMinute: options.mutationsPerMinute ?? 1000,
    },
    auth: {
      disabled: options.authDisabled ?? false,
      tokens: (["viewer", "deployer", "oncall"] as const).map((role) => ({
        name: `${role}-bot`,
        sha256: sha256Hex(tokens[role]),
        role,
      })),
    },
  };
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logLines.push(String(chunk));
      callback();
    },
  });
  const logger = pino({ level: "trace" }, sink);
  const service = options.service ?? new InMemoryRolloutService();
  const app = await buildApi({
    service,
    config,
    logger,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    inventory: new InventoryService({
      // An empty fleet: the role matrix needs the route to answer, not a fleet.
      reader: options.inventoryReader ?? {
        listScaleSets: async () => [],
        listInstances: async () => [],
        readImageVersion: async (id) => ({
          id,
          exists: false,
          targetRegions: [],
          replication: {},
          replicationDetails: {},
          excludeFromLatest: false,
        }),
        armCalls: () => 0,
      },
      rollouts: service,
      config: {
        inventory: {
          scopes: [],
          cacheSeconds: 0,
          concurrency: 1,
          source: "arm",
          resourceGraph: { maxQuotaWaitSeconds: 0 },
        },
        policy: defaultConfig.policy,
      },
      now: () => new Date(),
    }),
    approvals: new InMemoryApprovals(),
    // The role matrix needs the stop's routes to answer; its behaviour is tested against Redis.
    emergencyStop: {
      state: async () => ({ active: false, affectedRolloutIds: [] }),
      stop: async (actor, reason) => ({
        active: true,
        actor: actor.id,
        reason,
        affectedRolloutIds: [],
        rollouts: [],
      }),
      clear: async (actor) => ({ active: false, affectedRolloutIds: [], clearedBy: actor.id }),
    },
    ...(options.notifications ? { notifications: options.notifications } : {}),
  });
  await app.ready();
  const auth = (role: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[role]}` });
  return { app, service, tokens, auth, logLines };
}

/** The catalog's contract in memory: the role matrix needs the routes to answer, not Redis. */
export class InMemoryApprovals implements ApprovalCatalog {
  readonly items = new Map<string, Approval>();
  async approve(input: { imageVersionId: string; note?: string; actor: string }): Promise<Approval> {
    const approval: Approval = {
      id: `ap-${this.items.size + 1}`,
      imageVersionId: input.imageVersionId,
      version: input.imageVersionId.split("/").pop() ?? "",
      approvedBy: input.actor,
      approvedAt: new Date().toISOString(),
    };
    this.items.set(approval.id, approval);
    return approval;
  }
  async list(): Promise<Approval[]> {
    return [...this.items.values()];
  }
  async revoke(id: string, actor: string, reason: string): Promise<Approval> {
    const approval = this.items.get(id) ?? (await this.approve({ imageVersionId: id, actor }));
    return { ...approval, revoked: { by: actor, at: new Date().toISOString(), reason } };
  }
  async approvedKeys() {
    return undefined;
  }
}
