/** GET /v1/notifications/deadletters: viewer and up, the notifier's list as it is, nothing else. */
import { afterEach, describe, expect, it } from "vitest";
import type { NotificationDeadLetter } from "../../../src/notifications/notifier.ts";
import { buildHarness } from "../api/api-harness.ts";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const letter: NotificationDeadLetter = {
  id: "ro-1.r2.0.ops",
  eventId: "ro-1.r2.0",
  subscription: "ops",
  service: "hook",
  trigger: "rolloutStarted",
  rolloutId: "ro-1",
  attempts: 7,
  reason: "HTTP 500",
  createdAt: "2026-12-04T18:00:00.000Z",
  at: "2026-12-05T18:00:00.000Z",
};

describe("GET /v1/notifications/deadletters", () => {
  // Mutation: answer [] regardless of the notifier -> the letter is missing.
  it("lists the notifier's dead letters to a viewer and refuses an anonymous caller", async () => {
    const h = await buildHarness({ notifications: { deadLetters: async () => [letter] } });
    closers.push(() => h.app.close());
    const ok = await h.app.inject({ url: "/v1/notifications/deadletters", headers: h.auth("viewer") });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ items: [letter] });
    const anonymous = await h.app.inject({ url: "/v1/notifications/deadletters" });
    expect(anonymous.statusCode).toBe(401);
  });

  it("answers an empty list when no subscription is configured", async () => {
    const h = await buildHarness();
    closers.push(() => h.app.close());
    const res = await h.app.inject({ url: "/v1/notifications/deadletters", headers: h.auth("viewer") });
    expect(res.json()).toEqual({ items: [] });
  });
});
