import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { buildHarness, validSpec } from "./api-harness.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
afterEach(async () => {
  await h.app.close();
});

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const event: SseEvent = {};
      for (const line of block.split("\n")) {
        const [field, ...rest] = line.split(": ");
        const value = rest.join(": ");
        if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
        else if (field === "data") event.data = value;
      }
      return event;
    })
    .filter((e) => e.event !== undefined);
}

async function startRollout() {
  const view = await h.service.start(validSpec() as never, { actor: { id: "deployer-bot" } });
  return view.id;
}

describe("GET /v1/rollouts/:id/events", { timeout: 20_000 }, () => {
  it("replays the whole timeline with seq as event id, then ends once the rollout is terminal", async () => {
    h = await buildHarness();
    const id = await startRollout();
    h.service.setPhase(id, "canary");
    h.service.setPhase(id, "completed");
    const res = await h.app.inject({ url: `/v1/rollouts/${id}/events`, headers: h.auth("viewer") });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    const events = parseSse(res.body);
    expect(events.map((e) => [e.event, e.id])).toEqual([
      ["timeline", "1"],
      ["timeline", "2"],
      ["timeline", "3"],
      ["end", undefined],
    ]);
    expect(JSON.parse(events[2]?.data ?? "{}")).toMatchObject({
      seq: 3,
      type: "phase",
      data: { phase: "completed" },
    });
    expect(JSON.parse(events[3]?.data ?? "{}")).toEqual({ phase: "completed", lastSeq: 3 });
  });

  it("resumes after Last-Event-ID without repeating what the client saw", async () => {
    h = await buildHarness();
    const id = await startRollout();
    h.service.setPhase(id, "canary");
    h.service.setPhase(id, "rolledBack");
    const res = await h.app.inject({
      url: `/v1/rollouts/${id}/events`,
      headers: { ...h.auth("viewer"), "last-event-id": "2" },
    });
    const ids = parseSse(res.body).map((e) => e.id);
    expect(ids).toEqual(["3", undefined]);
  });

  it("rejects a Last-Event-ID that is not a sequence number", async () => {
    h = await buildHarness();
    const id = await startRollout();
    const res = await h.app.inject({
      url: `/v1/rollouts/${id}/events`,
      headers: { ...h.auth("viewer"), "last-event-id": "abc" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].path).toBe("headers.last-event-id");
  });

  it("404s an unknown rollout before opening a stream", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/v1/rollouts/nope/events", headers: h.auth("viewer") });
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toMatch(/problem\+json/);
  });

  it("streams live entries as they happen, sends heartbeats, and unsubscribes when the client leaves", async () => {
    h = await buildHarness({ heartbeatMs: 20 });
    const id = await startRollout();
    await h.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = h.app.server.address() as AddressInfo;
    const abort = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/rollouts/${id}/events`, {
      headers: { ...h.auth("viewer"), "last-event-id": "1" },
      signal: abort.signal,
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let received = "";
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(received)) {
        const chunk = await reader.read();
        if (chunk.done) throw new Error(`stream ended before ${pattern}: ${received}`);
        received += decoder.decode(chunk.value);
      }
    };
    await readUntil(/: heartbeat/);
    expect(h.service.subscriptions.get(id)?.size).toBe(1);
    h.service.setPhase(id, "canary");
    await readUntil(/id: 2\n/);
    h.service.record(id, "oncall-bot", "note", "looking");
    await readUntil(/id: 3\n/);
    expect(received).not.toMatch(/id: 1\n/);
    abort.abort();
    await expect.poll(() => h.service.subscriptions.get(id)?.size, { timeout: 10_000 }).toBe(0);
  });

  it("closes open streams when the app shuts down", async () => {
    h = await buildHarness();
    const id = await startRollout();
    await h.app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = h.app.server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/v1/rollouts/${id}/events`, {
      headers: h.auth("viewer"),
    });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await h.app.close();
    // The stream ends (the reader drains to done) rather than holding shutdown open.
    let done = false;
    while (!done) done = (await reader.read()).done;
    expect(done).toBe(true);
    expect(h.service.subscriptions.get(id)?.size).toBe(0);
  });
});

describe("GET /v1/rollouts/:id/wait", { timeout: 20_000 }, () => {
  it("answers 202 with the current state when the timeout passes first", async () => {
    h = await buildHarness();
    const id = await startRollout();
    const res = await h.app.inject({
      url: `/v1/rollouts/${id}/wait?timeoutSeconds=0`,
      headers: h.auth("viewer"),
    });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ id, phase: "pending" });
  });

  it("answers 200 with the rollout as soon as it becomes terminal", async () => {
    h = await buildHarness();
    const id = await startRollout();
    const waiting = h.app.inject({
      url: `/v1/rollouts/${id}/wait?timeoutSeconds=30`,
      headers: h.auth("viewer"),
    });
    await expect.poll(() => h.service.waiting, { timeout: 10_000 }).toBe(1);
    h.service.setPhase(id, "rolledBack", "system", "boot gate failed");
    const res = await waiting;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, phase: "rolledBack", reason: "boot gate failed" });
    expect(h.service.waiting).toBe(0);
  });

  it("refuses a timeout beyond the maximum and 404s an unknown rollout", async () => {
    h = await buildHarness();
    const tooLong = await h.app.inject({
      url: "/v1/rollouts/ro-1/wait?timeoutSeconds=100000",
      headers: h.auth("viewer"),
    });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().errors[0].path).toBe("querystring.timeoutSeconds");
    const missing = await h.app.inject({
      url: "/v1/rollouts/ro-9/wait?timeoutSeconds=0",
      headers: h.auth("viewer"),
    });
    expect(missing.statusCode).toBe(404);
  });
});
