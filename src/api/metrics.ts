/**
 * Prometheus metrics. The daemon creates one CanarydMetrics and hands it to the engine and Azure
 * adapters (they record through the methods below, typed structurally so they need not import the
 * API) and to buildApi, which serves the registry at GET /metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { activePhases, type RolloutPhase } from "../domain/rollout-view.ts";
import type { EffectFailureMetrics } from "../engine/queue/effect-worker.ts";
import type { RolloutService } from "../engine/service/rollout-service.ts";
import type { NotificationMetrics } from "../notifications/notifier.ts";

/** Also counts, for the engine, failed effect attempts retried and effects dead-lettered (by kind and class). */
export interface CanarydMetrics extends EffectFailureMetrics, NotificationMetrics {
  readonly registry: Registry;
  /** One gate evaluation: `gate` is the gate kind, `verdict` passed | failed | inconclusive. */
  gateResult(gate: string, verdict: string): void;
  /** How long one engine step (an effect, or a transition) took, by its kind. */
  stepDuration(step: string, seconds: number): void;
  /** One Azure call, by operation (e.g. `virtualMachineScaleSets.update`) and HTTP status. */
  azureCall(operation: string, status: number | string): void;
  /** One gate evaluation's metrics:getBatch calls (one per region and namespace, or 0). */
  metricsCallsPerEvaluation(calls: number): void;
  /** One call Azure answered with 429 (throttled). */
  azureThrottled(operation: string): void;
  /** Makes the rollouts-by-phase gauge read the service at each scrape. */
  observeRollouts(service: Pick<RolloutService, "list">): void;
}

/** A scrape counts at most this many rollouts per phase; more than that is an incident anyway. */
const maxCountedPerPhase = 1000;

async function countPhase(service: Pick<RolloutService, "list">, phase: RolloutPhase): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await service.list({ phase, limit: 100, ...(cursor ? { cursor } : {}) });
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor && count < maxCountedPerPhase);
  return count;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): CanarydMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "canaryd_" });

  let service: Pick<RolloutService, "list"> | undefined;
  new Gauge({
    name: "canaryd_rollouts",
    help: "Active rollouts by phase (terminal phases are not counted)",
    labelNames: ["phase"],
    registers: [registry],
    async collect() {
      if (!service) return;
      const source = service;
      const counts = await Promise.all(activePhases.map((phase) => countPhase(source, phase)));
      activePhases.forEach((phase, i) => {
        this.set({ phase }, counts[i] ?? 0);
      });
    },
  });
  const gateResults = new Counter({
    name: "canaryd_gate_results_total",
    help: "Gate evaluations by gate kind and verdict",
    labelNames: ["gate", "verdict"],
    registers: [registry],
  });
  const stepSeconds = new Histogram({
    name: "canaryd_step_duration_seconds",
    help: "Duration of engine steps by kind",
    labelNames: ["step"],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [registry],
  });
  const azureCalls = new Counter({
    name: "canaryd_azure_calls_total",
    help: "Azure API calls by operation and HTTP status",
    labelNames: ["operation", "status"],
    registers: [registry],
  });
  const throttled = new Counter({
    name: "canaryd_azure_throttled_total",
    help: "Azure API calls answered with 429 (throttled), by operation",
    labelNames: ["operation"],
    registers: [registry],
  });
  const retried = new Counter({
    name: "canaryd_effect_retries_total",
    help: "Failed effect attempts that were retried, by effect kind and error class (transient)",
    labelNames: ["kind", "class"],
    registers: [registry],
  });
  const deadLettered = new Counter({
    name: "canaryd_effect_dead_letters_total",
    help: "Effects given up on (dead-lettered), by effect kind and error class (transient: out of attempts; permanent: attempted once)",
    labelNames: ["kind", "class"],
    registers: [registry],
  });

  const notifications = new Counter({
    name: "canaryd_notifications_total",
    help: "Notification delivery attempts by service kind and result: sent, failed (an attempt that failed) and dead (given up, dead-lettered)",
    labelNames: ["service", "result"],
    registers: [registry],
  });

  const metricsCalls = new Histogram({
    name: "canaryd_gate_metrics_calls_per_evaluation",
    help: "Azure Monitor metrics:getBatch calls made by one gate evaluation (all metric and compare gates)",
    buckets: [0, 1, 2, 3, 5, 10],
    registers: [registry],
  });

  return {
    registry,
    effectRetried: (kind, errorClass) => retried.inc({ kind, class: errorClass }),
    effectDeadLettered: (kind, errorClass) => deadLettered.inc({ kind, class: errorClass }),
    notificationSent: (service) => notifications.inc({ service, result: "sent" }),
    notificationFailed: (service) => notifications.inc({ service, result: "failed" }),
    notificationDead: (service) => notifications.inc({ service, result: "dead" }),
    metricsCallsPerEvaluation: (calls) => metricsCalls.observe(calls),
    gateResult: (gate, verdict) => gateResults.inc({ gate, verdict }),
    stepDuration: (step, seconds) => stepSeconds.observe({ step }, seconds),
    azureCall: (operation, status) => azureCalls.inc({ operation, status: String(status) }),
    azureThrottled: (operation) => throttled.inc({ operation }),
    observeRollouts: (s) => {
      service = s;
    },
  };
}
