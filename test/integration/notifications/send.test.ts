/**
 * One delivery attempt per service against a loopback receiver: the Teams Workflows message, a
 * Slack incoming webhook (no thread possible), and the SSRF guard shared with webhook gates.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { notificationsSchema } from "../../../src/notifications/config.ts";
import type { NotificationDelivery } from "../../../src/notifications/events.ts";
import { send } from "../../../src/notifications/send.ts";
import { type NotificationReceiver, startReceiver } from "../../support/notification-receiver.ts";

let receiver: NotificationReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());

const delivery: NotificationDelivery = {
  id: "ro-1.r3.0.ops",
  eventId: "ro-1.r3.0",
  subscription: "ops",
  service: "svc",
  trigger: "rolloutFailed",
  severity: "critical",
  at: "2026-12-04T18:00:00.000Z",
  createdAt: "2026-12-04T18:00:00.000Z",
  message: "Rollout web-1.2.0 failed",
  details: {},
  rollout: { id: "ro-1", name: "web-1.2.0", phase: "failed", labels: {}, scaleSetIds: [] },
  attempts: 0,
};

function config(
  services: Record<string, unknown>,
  secrets: Record<string, string>,
  allowedHosts = ["127.0.0.1"],
) {
  return notificationsSchema.parse({ services, secrets, allowedHosts });
}

describe("sending one notification", () => {
  it("posts an Adaptive Card to a Teams Workflows URL with the idempotency key", async () => {
    const c = config({ svc: { kind: "teams", urlSecret: "t" } }, { t: `${receiver.url}/teams?sig=abc` });
    const svc = c.services.svc;
    if (!svc) throw new Error("no service");
    expect(await send(svc, delivery, undefined, { config: c, now: () => new Date() })).toEqual({
      kind: "sent",
    });
    const got = receiver.received.at(-1);
    // Mutation: post the generic payload to Teams -> no attachments.
    expect(got?.path).toBe("/teams?sig=abc");
    expect(got?.headers["idempotency-key"]).toBe(delivery.id);
    expect(got?.body).toMatchObject({
      type: "message",
      attachments: [
        { contentType: "application/vnd.microsoft.card.adaptive", content: { type: "AdaptiveCard" } },
      ],
    });
    expect(JSON.stringify(got?.body)).toContain("Rollout web-1.2.0 failed");
  });

  it("posts text to a Slack incoming webhook, without thread_ts", async () => {
    const c = config({ svc: { kind: "slack", webhookUrlSecret: "w" } }, { w: `${receiver.url}/slack-hook` });
    const svc = c.services.svc;
    if (!svc) throw new Error("no service");
    expect(
      await send(svc, delivery, undefined, { config: c, threadTs: "1.2", now: () => new Date() }),
    ).toEqual({
      kind: "sent",
    });
    const got = receiver.received.at(-1);
    expect(got?.path).toBe("/slack-hook");
    expect(got?.body.text).toContain("[critical] web-1.2.0");
    expect(got?.body.thread_ts).toBeUndefined();
  });

  // Mutation: call without the webhook guard -> the request goes out (a connection error, not a refusal).
  it("refuses the metadata address even when listed, permanently, naming notifications.allowedHosts for unlisted hosts", async () => {
    const metadata = config(
      { svc: { kind: "webhook", url: "http://169.254.169.254/latest", signingSecret: "s" } },
      { s: "x" },
      ["169.254.169.254"],
    );
    const svc = metadata.services.svc;
    if (!svc) throw new Error("no service");
    const refused = await send(svc, delivery, undefined, { config: metadata, now: () => new Date() });
    expect(refused).toMatchObject({ kind: "failed", permanent: true });
    expect(refused.kind === "failed" && refused.reason).toContain("link-local");

    const unlisted = { ...metadata, allowedHosts: ["example.org"] };
    const other = await send(svc, delivery, undefined, { config: unlisted, now: () => new Date() });
    expect(other.kind === "failed" && other.reason).toContain("not in notifications.allowedHosts");
  });

  it("retries a 500 and a 429, gives up at once on a 404", async () => {
    const c = config({ svc: { kind: "webhook", url: `${receiver.url}/x`, signingSecret: "s" } }, { s: "x" });
    const svc = c.services.svc;
    if (!svc) throw new Error("no service");
    const attempt = () => send(svc, delivery, undefined, { config: c, now: () => new Date() });
    // Mutation: treat every non-2xx as permanent -> the 500 is not retried.
    receiver.answer("/x", 500);
    expect(await attempt()).toEqual({ kind: "failed", permanent: false, reason: "HTTP 500" });
    receiver.answer("/x", 429);
    expect(await attempt()).toEqual({ kind: "failed", permanent: false, reason: "HTTP 429" });
    receiver.answer("/x", 404);
    expect(await attempt()).toEqual({ kind: "failed", permanent: true, reason: "HTTP 404" });
  });
});
