/**
 * The webhook gate through the real effect executor: the scale set's instances come from the
 * simulator (through the SDK), the check is a local test receiver on 127.0.0.1 (listed
 * explicitly), and the simulator's own `checks.webhook` route answers for the demo versions.
 * Each test names the mutation it catches.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { GateResult } from "../../../src/domain/effects.ts";
import type { GateSpec } from "../../../src/domain/spec.ts";
import { gateSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import type { GateSettings } from "../../../src/gates/provider.ts";
import { defaultConfig } from "../../support/default-config.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "../effects/drive-effect.ts";

const secretValue = "s3cr3t-webhook-value-42";

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let fleet: DemoFleet;
let receiver: Server;
let base: string;
const received: Received[] = [];
/** What the receiver does with the next requests (shifted per request; the last one repeats). */
let script: ((req: Received, res: ServerResponse) => void)[] = [];

const json = (status: number, body: unknown) => (_req: Received, res: ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const entry = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      received.push(entry);
      const handle = script.length > 1 ? script.shift() : script[0];
      (handle ?? json(200, {}))(entry, res);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
  await fleet?.close();
});
afterEach(() => {
  received.length = 0;
  script = [];
});

const settings = (overrides: Partial<GateSettings["webhook"]> = {}): GateSettings => ({
  webhook: {
    allowedHosts: ["127.0.0.1"],
    secrets: { "check-token": secretValue },
    caBundleFile: null,
    ...overrides,
  },
});

function webhook(fields: Record<string, unknown>): GateSpec {
  return gateSchema.parse({
    kind: "webhook",
    url: `${base}/check`,
    headers: { "X-Api-Key": { secret: "check-token" }, "X-Team": "payments" },
    answer: { pointer: "/errorRate", max: 0.01 },
    ...fields,
  });
}

async function evaluate(gate: GateSpec, gates = settings(), instanceIds = ["0"]): Promise<GateResult> {
  const execute = createEffectExecutor({
    azure: fleet.azure,
    config: engineConfig,
    allowLatestFor: [],
    gates,
  });
  const scaleSetId = fleet.scaleSetId("web-a");
  const rollout = spec({
    image: { galleryImageVersionId: fleet.versionId("1.1.0") },
    waves: [{ name: "w", scaleSets: [scaleSetId] }],
  });
  const { outcome } = await drive(
    execute,
    {
      kind: "evaluateGates",
      scaleSetId,
      instanceIds,
      gates: [gate],
      maxUnhealthyPercent: 0,
      since: new Date().toISOString(),
      attempt: 0,
      upgradedAt: { "0": "2026-01-01T00:00:00Z", "1": "2026-01-01T00:05:00Z" },
    },
    { spec: rollout },
  );
  if (outcome.type !== "gates.evaluated") throw new Error(outcome.type);
  return outcome.results[0] as GateResult;
}

describe("webhook gate", () => {
  it("passes on a good answer and sends the rollout, scale set, batch and instances with the secret header", async () => {
    // Mutations: the rollout context left out of the body; the secret not resolved (or sent as
    // its name); the batch not counted from the return times; the condition not applied.
    script = [json(200, { errorRate: 0.001 })];
    const result = await evaluate(webhook({ body: { service: "orders" } }), settings(), ["0", "1"]);
    expect(result).toMatchObject({ gate: "webhook", name: "webhook", verdict: "passed" });
    expect(received).toHaveLength(1);
    const request = received[0] as Received;
    expect(request.method).toBe("POST");
    expect(request.headers["x-api-key"]).toBe(secretValue);
    expect(request.headers["x-team"]).toBe("payments");
    expect(request.headers["idempotency-key"]).toMatch(/^e\d+$/);
    const body = JSON.parse(request.body);
    expect(body.service).toBe("orders");
    expect(body.rollout).toMatchObject({
      rolloutId: "r-test",
      scaleSetId: fleet.scaleSetId("web-a"),
      batch: 2,
      final: false,
    });
    expect(body.rollout.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(["0", "1"]);
    expect(body.rollout.instances[0].name).toMatch(/web-a/);
    expect(result.evidence).toMatchObject({ status: 200, value: 0.001, condition: { max: 0.01 } });
  });

  it("fails when the value breaks the condition, naming the value", async () => {
    // Mutation: a breached condition judged passed or inconclusive.
    script = [json(200, { errorRate: 0.2 })];
    const result = await evaluate(webhook({}));
    expect(result.verdict).toBe("failed");
    expect(result.summary).toMatch(/\/errorRate = 0\.2: above max 0\.01/);
    expect(result.evidence.value).toBe(0.2);
  });

  it("GET sends the context as query parameters; equals on a boolean", async () => {
    script = [json(200, { checks: { healthy: true } })];
    const result = await evaluate(
      webhook({ method: "GET", answer: { pointer: "/checks/healthy", equals: true } }),
    );
    expect(result.verdict).toBe("passed");
    const url = new URL((received[0] as Received).url, base);
    expect(url.searchParams.get("rolloutId")).toBe("r-test");
    expect(url.searchParams.get("instances")).toBe("0");
    expect(url.searchParams.get("batch")).toBe("1");
  });

  it("retries a 5xx within the evaluation and passes on the answer that follows", async () => {
    // Mutation: no retry (503 would be the verdict's source).
    script = [json(503, {}), json(502, {}), json(200, { errorRate: 0 })];
    const result = await evaluate(webhook({ retries: 2 }));
    expect(result.verdict).toBe("passed");
    expect(received).toHaveLength(3);
    expect(result.evidence.attempts).toMatchObject([
      { outcome: "HTTP 503" },
      { outcome: "HTTP 502" },
      { outcome: "HTTP 200" },
    ]);
  });

  it("a 5xx that persists is inconclusive after exactly retries + 1 attempts, never passed", async () => {
    // Mutations: unbounded retries; a 5xx judged passed or failed.
    script = [json(500, { errorRate: 0 })];
    const result = await evaluate(webhook({ retries: 1 }));
    expect(result.verdict).toBe("inconclusive");
    expect(received).toHaveLength(2);
    expect(result.summary).toMatch(/after 2 attempt\(s\): HTTP 500/);
  });

  it("a 4xx is inconclusive at once (not retried)", async () => {
    script = [json(404, { errorRate: 0 })];
    const result = await evaluate(webhook({ retries: 3 }));
    expect(result.verdict).toBe("inconclusive");
    expect(received).toHaveLength(1);
  });

  it("a check that never answers is inconclusive after its timeout", async () => {
    // Mutation: the timeout not applied (the evaluation would hang past the test's bound).
    script = [() => undefined];
    const started = Date.now();
    const result = await evaluate(webhook({ timeoutSeconds: 1, retries: 1 }));
    const took = Date.now() - started;
    expect(result.verdict).toBe("inconclusive");
    expect(result.summary).toMatch(/timed out/);
    expect(received).toHaveLength(2);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(6000);
  });

  it("keeps secrets out of evidence and summary, also when the check echoes them", async () => {
    // Mutations: header values in the evidence; the answer excerpt not blanked.
    script = [(req, res) => json(500, { echoed: `key was ${req.headers["x-api-key"]}` })(req, res)];
    const result = await evaluate(webhook({ retries: 0 }));
    expect(result.verdict).toBe("inconclusive");
    const text = JSON.stringify(result);
    expect(text).not.toContain("s3cr3t");
    expect(text).toContain("[secret]");
    expect(result.evidence.request).toMatchObject({ headers: ["X-Api-Key", "X-Team"] });
  });

  it("a header naming a secret that is not configured is inconclusive, and nothing is sent", async () => {
    const result = await evaluate(webhook({}), settings({ secrets: {} }));
    expect(result.verdict).toBe("inconclusive");
    expect(result.evidence.code).toBe("WEBHOOK_SECRET_MISSING");
    expect(received).toHaveLength(0);
  });

  it("refuses a host that is not listed, without connecting", async () => {
    // Mutation: the allow list not checked (the receiver would be called).
    const result = await evaluate(webhook({}), settings({ allowedHosts: ["checks.example.com"] }));
    expect(result.verdict).toBe("inconclusive");
    expect(result.evidence.code).toBe("WEBHOOK_HOST_NOT_ALLOWED");
    expect(received).toHaveLength(0);
  });

  it("refuses the metadata address even when listed", async () => {
    // Mutation: the list trusted over the address rules.
    const result = await evaluate(
      webhook({ url: "http://169.254.169.254/metadata/instance" }),
      settings({ allowedHosts: ["169.254.169.254"] }),
    );
    expect(result.verdict).toBe("inconclusive");
    expect(result.evidence.code).toBe("WEBHOOK_ADDRESS_REFUSED");
  });

  it("asks the simulator's check route, which fails 1.2.0 and passes 1.0.0 (https with the simulator's CA)", async () => {
    // Mutation: the extra CA not used (TLS would fail: inconclusive); the route judging versions wrong.
    const gates = settings({
      allowedHosts: ["127.0.0.1"],
      secrets: { sim: `Bearer ${fleet.sim.connection.token}` },
      caBundleFile: fleet.sim.connection.caCertFile,
    });
    const checkUrl = `${new URL(fleet.sim.connection.resourceManagerEndpoint).origin}/checks/web`;
    const gate = webhook({
      url: checkUrl,
      headers: { Authorization: { secret: "sim" } },
      answer: { pointer: "/healthy", equals: true },
    });
    const before = await evaluate(gate, gates);
    expect(before.verdict).toBe("passed");
    const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
    const scaleSetId = fleet.scaleSetId("web-a");
    const target = { id: fleet.versionId("1.2.0") };
    const rollout = spec({
      image: { galleryImageVersionId: target.id },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });
    await drive(
      execute,
      { kind: "setModelImage", scaleSetId, target, previous: { id: fleet.versionId("1.0.0") } },
      { spec: rollout },
    );
    await drive(
      execute,
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["0"], image: target, purpose: "rollout" },
      { spec: rollout },
    );
    const after = await evaluate(gate, gates);
    expect(after.verdict).toBe("failed");
    expect(after.evidence.value).toBe(false);
  });
});

describe("webhook gate preflight", () => {
  it("refuses at start, naming the spec path and key, a host not allowed and a secret not configured", async () => {
    // Mutations: gate preflights not run by the rollout's preflight; a missing secret not found.
    const scaleSetId = fleet.scaleSetId("web-a");
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.1.0") },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
      gates: [
        { kind: "instanceHealth" },
        {
          kind: "webhook",
          url: "https://checks.example.com/x",
          headers: { Authorization: { secret: "missing" } },
          answer: { pointer: "/ok", equals: true },
        },
      ],
    });
    const execute = createEffectExecutor({
      azure: fleet.azure,
      config: engineConfig,
      allowLatestFor: [],
      gates: settings(),
    });
    const { outcome } = await drive(execute, { kind: "preflight" }, { spec: rollout });
    if (outcome.type !== "preflight.refused") throw new Error(`expected a refusal, got ${outcome.type}`);
    expect(outcome.findings).toEqual([
      {
        code: "WEBHOOK_HOST_NOT_ALLOWED",
        message: "gates[1].url: host checks.example.com is not in gates.webhook.allowedHosts",
      },
      {
        code: "WEBHOOK_SECRET_MISSING",
        message:
          "gates[1].headers.Authorization: secret missing is not configured under gates.webhook.secrets",
      },
    ]);
    const allowed = createEffectExecutor({
      azure: fleet.azure,
      config: engineConfig,
      allowLatestFor: [],
      gates: settings({ allowedHosts: ["checks.example.com"], secrets: { missing: "x" } }),
    });
    expect((await drive(allowed, { kind: "preflight" }, { spec: rollout })).outcome.type).toBe(
      "preflight.passed",
    );
  });
});

describe("webhook gate spec", () => {
  it("refuses an inline credential header and a GET with a body; accepts a named secret", () => {
    // Mutation: inline tokens allowed in the spec.
    const inline = gateSchema.safeParse({
      kind: "webhook",
      url: "https://checks.example.com/x",
      headers: { Authorization: "Bearer abc" },
      answer: { pointer: "/ok", equals: true },
    });
    expect(inline.success).toBe(false);
    expect(JSON.stringify(inline.error?.issues)).toMatch(/name a secret/);
    const getBody = gateSchema.safeParse({
      kind: "webhook",
      method: "GET",
      url: "https://checks.example.com/x",
      body: { a: 1 },
      answer: { pointer: "/ok", equals: true },
    });
    expect(getBody.success).toBe(false);
    for (const refused of [{ headers: { Host: "internal" } }, { body: { rollout: 1 } }])
      expect(
        gateSchema.safeParse({
          kind: "webhook",
          url: "https://checks.example.com/x",
          answer: { pointer: "/ok", equals: true },
          ...refused,
        }).success,
      ).toBe(false);
    const named = gateSchema.parse({
      kind: "webhook",
      url: "https://checks.example.com/x",
      headers: { "X-Api-Key": { secret: "k" } },
      answer: { pointer: "/ok", equals: true },
    });
    expect(named).toMatchObject({ method: "POST", timeoutSeconds: 10, retries: 2 });
    expect(defaultConfig.gates.webhook).toEqual({ allowedHosts: [], secrets: {}, caBundleFile: null });
  });
});
