import { afterEach, describe, expect, it } from "vitest";
import { createMetrics } from "../../../src/api/metrics.ts";
import { buildHarness, validSpec } from "./api-harness.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
afterEach(async () => {
  await h.app.close();
});

describe("probes", () => {
  it("/healthz answers without a token", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("/readyz is 200 when the service is ready and 503 with the failing checks when not", async () => {
    h = await buildHarness();
    expect((await h.app.inject({ url: "/readyz" })).statusCode).toBe(200);
    h.service.isReady = false;
    const res = await h.app.inject({ url: "/readyz" });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false, checks: { redis: false, workers: false } });
  });
});

describe("/metrics", () => {
  it("counts active rollouts by phase in Prometheus format", async () => {
    h = await buildHarness();
    await h.service.start(validSpec() as never, { actor: { id: "t" } });
    h.service.setPhase("ro-1", "baking");
    const res = await h.app.inject({ url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/plain/);
    expect(res.body).toContain('canaryd_rollouts{phase="baking"} 1');
    expect(res.body).toContain('canaryd_rollouts{phase="canary"} 0');
    expect(res.body).toContain("# TYPE canaryd_azure_calls_total counter");
    expect(res.body).toContain("# TYPE canaryd_step_duration_seconds histogram");
  });
});

describe("OpenAPI", () => {
  it("documents every /v1 route with its schemas at /docs/json, and serves the UI at /docs", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/rollouts",
        "/v1/rollouts/{id}",
        "/v1/rollouts/{id}/events",
        "/v1/rollouts/{id}/wait",
        "/v1/rollouts/{id}/pause",
        "/v1/rollouts/{id}/resume",
        "/v1/rollouts/{id}/approve",
        "/v1/rollouts/{id}/abort",
        "/v1/rollouts/{id}/rollback",
        "/v1/rollback",
        "/healthz",
        "/readyz",
        "/metrics",
      ]),
    );
    const start = doc.paths["/v1/rollouts"].post;
    expect(Object.keys(start.requestBody.content)).toEqual(
      expect.arrayContaining(["application/json", "application/yaml"]),
    );
    expect(start.requestBody.content["application/yaml"].schema.properties.waves).toBeDefined();
    expect(start.responses["409"].content["application/problem+json"]).toBeDefined();
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const ui = await h.app.inject({ url: "/docs/" });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers["content-type"]).toMatch(/text\/html/);
    // Served over plain HTTP too: the UI's assets must not be forced to https.
    expect(ui.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(ui.headers["content-security-policy"]).not.toContain("upgrade-insecure-requests");
  });
});

describe("metrics the engine and Azure adapters record", () => {
  it("count Azure calls by operation and status, throttled ones apart, gate verdicts and step latency", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.azureCall("virtualMachineScaleSets.get", 200);
    metrics.azureCall("virtualMachineScaleSets.get", 429);
    metrics.azureThrottled("virtualMachineScaleSets.get");
    metrics.gateResult("bootDiagnostics", "failed");
    metrics.stepDuration("upgradeInstances", 0.2);
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'canaryd_azure_calls_total{operation="virtualMachineScaleSets.get",status="200"} 1',
    );
    expect(text).toContain(
      'canaryd_azure_calls_total{operation="virtualMachineScaleSets.get",status="429"} 1',
    );
    expect(text).toContain('canaryd_azure_throttled_total{operation="virtualMachineScaleSets.get"} 1');
    expect(text).toContain('canaryd_gate_results_total{gate="bootDiagnostics",verdict="failed"} 1');
    expect(text).toContain('canaryd_step_duration_seconds_count{step="upgradeInstances"} 1');
    // No service observed yet: the phase gauge is simply empty, not an error.
    expect(text).not.toContain("canaryd_rollouts{");
  });

  it("count retried and dead-lettered effects by kind and error class", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.effectRetried("upgradeInstances", "transient");
    metrics.effectRetried("upgradeInstances", "transient");
    metrics.effectDeadLettered("setModelImage", "permanent");
    const text = await metrics.registry.metrics();
    expect(text).toContain('canaryd_effect_retries_total{kind="upgradeInstances",class="transient"} 2');
    expect(text).toContain('canaryd_effect_dead_letters_total{kind="setModelImage",class="permanent"} 1');
  });
});
