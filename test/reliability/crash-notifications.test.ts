/**
 * kill -9 in the middle of a notification delivery. The receiver holds the first webhook request
 * (the rollout's `rolloutStarted`) unanswered, so the only daemon has sent it and not yet marked it
 * done; the daemon is killed there, and two fresh daemons take over on the same Redis. The rollout
 * must end as usual and its notifications must come out exactly once per event: every triggering
 * timeline entry delivered, one idempotency key per event, and the one resend the kill forces
 * carries the key the first send carried (a receiver that keeps the keys it saw drops it).
 */
import { createHmac } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { triggerOf } from "../../src/notifications/triggers.ts";
import { demoSpec } from "../support/crash-expectations.ts";
import { type CrashLab, redisUrl, startCrashLab } from "../support/crash-lab.ts";
import { type NotificationReceiver, startReceiver } from "../support/notification-receiver.ts";

const secret = "crash-signing-secret-42";
let lab: CrashLab;
let receiver: NotificationReceiver;

beforeAll(async () => {
  receiver = await startReceiver();
  lab = await startCrashLab({
    timeScale: 30,
    label: "crash-notify",
    extraConfig: [
      "notifications:",
      "  services:",
      "    hook:",
      "      kind: webhook",
      `      url: ${receiver.url}/hook`,
      "      signingSecret: hook",
      "  subscriptions:",
      "    - name: everything",
      "      service: hook",
      "      triggers: [rolloutStarted, rolloutCompleted, rolloutRolledBack, rolloutFailed, rolloutRejected, waveStarted, waveCompleted, gateFailed, gateInconclusive, approvalRequired, paused, resumed]",
      "  secrets:",
      `    hook: ${secret}`,
      "  allowedHosts: ['127.0.0.1']",
      "  retryBackoffSeconds: 0.1",
      "  retryBackoffMaxSeconds: 1",
    ],
  });
}, 60_000);
afterAll(async () => {
  await lab?.close();
  await receiver?.close();
}, 60_000);

async function pendingNotifications(): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    return await redis.hlen(`${lab.prefix}:notifications:outbox`);
  } finally {
    redis.disconnect();
  }
}

describe("kill -9 while the receiver holds a delivery", () => {
  it("delivers every event, exactly one idempotency key per event; the resend carries the first key", async () => {
    const held = receiver.hold("/hook");
    const first = await lab.startDaemon();
    const view = await lab.startRollout(first.url, demoSpec("1.1.0", ["web-a"], ["web-b"]));
    const request = await held;
    // The request reached the receiver: the daemon sent it and waits for the answer.
    const heldKey = receiver.received.find((r) => r.path === "/hook")?.headers["idempotency-key"];
    expect(heldKey).toBe(`${view.id}.r${view.revision}.0.everything`);
    await first.daemon.stop("SIGKILL");
    // The answer goes to a dead socket: the daemon never learned the delivery succeeded.
    request.release();

    // Two daemons take over: one send per event between them.
    const [b] = await Promise.all([lab.startDaemon(), lab.startDaemon()]);
    const done = await lab.waitForTerminal(b.url, view.id, 120_000);
    expect(done.phase).toBe("completed");
    const triggering = done.timeline.filter((e) => triggerOf(e) !== undefined);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await pendingNotifications()) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(await pendingNotifications()).toBe(0);

    const deliveries = receiver.received.filter((r) => r.path === "/hook");
    const byKey = new Map<string, typeof deliveries>();
    for (const d of deliveries) {
      const key = String(d.headers["idempotency-key"]);
      byKey.set(key, [...(byKey.get(key) ?? []), d]);
    }
    // Every triggering entry delivered, one key each. Mutation: make the key per attempt (append
    // the send time) -> the resend after the kill carries a new key and the event counts twice.
    expect(byKey.size).toBe(triggering.length);
    const triggersDelivered = [...byKey.values()].map((copies) => String(copies[0]?.body.trigger)).sort();
    expect(triggersDelivered).toEqual(triggering.map((e) => String(triggerOf(e))).sort());
    // The held delivery was sent again after the kill (at least once), always with its first key
    // and the same event; no other key arrived twice. Mutation: delete the outbox entry before
    // sending (at most once) -> the held delivery is never resent; random job ids instead of the
    // key -> the two daemons' recovery passes make two jobs and a key repeats.
    const resent = byKey.get(String(heldKey)) ?? [];
    expect(resent.length).toBe(2);
    expect(new Set(resent.map((d) => d.body.eventId)).size).toBe(1);
    const repeated = [...byKey.entries()].filter(([key, copies]) => key !== heldKey && copies.length > 1);
    expect(repeated).toEqual([]);
    // Every copy is signed with the configured secret; the secret is in no payload.
    for (const d of deliveries) {
      const timestamp = String(d.headers["x-canaryd-timestamp"]);
      const mac = createHmac("sha256", secret).update(`${timestamp}.${d.raw}`).digest("hex");
      expect(d.headers["x-canaryd-signature"]).toBe(`sha256=${mac}`);
      expect(d.raw).not.toContain(secret);
    }
  }, 180_000);
});
