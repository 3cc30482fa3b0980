/**
 * Faults switchable at run time: throttling, 5xx bursts, latency, LROs that end Failed, holds
 * (requests wait until released, so a test can stop the world at an exact point), and ARM outages
 * (every ARM request answers 503 with Retry-After for a simulated duration). Not persisted. Instance faults
 * (failed provisioning, never coming back) live in the fleet state; see `index.ts`.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";

const window = {
  /** SDK-style operation name (`virtualMachineScaleSets.update`) or `*` for every ARM/metrics operation. */
  operation: z.string().min(1),
  /** Applies to this many matching requests, then disappears. */
  count: z.number().int().positive().optional(),
  /** Applies for this many wall-clock seconds, then disappears. */
  durationSeconds: z.number().positive().optional(),
};

/**
 * Azure Resource Manager is down: every ARM request (compute, galleries, LRO polls; metrics only
 * with `metrics: true`; never admin or blob downloads) answers 503 ServiceUnavailable with
 * `Retry-After` for `simulatedSeconds` of simulated time from when it is added.
 */
export const armOutageSchema = z.object({
  kind: z.literal("armOutage"),
  operation: z.literal("*").default("*"),
  simulatedSeconds: z.number().positive(),
  /** Wall-clock seconds the client is told to wait (what the SDK's retry policy sleeps). */
  retryAfterSeconds: z.number().int().min(0).default(1),
  metrics: z.boolean().default(false),
});

export const faultSpecSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("throttle"), ...window, retryAfterSeconds: z.number().int().min(0).default(1) }),
  z.object({
    kind: z.literal("serverError"),
    ...window,
    status: z.number().int().min(500).max(599).default(503),
  }),
  z.object({ kind: z.literal("latency"), ...window, latencyMs: z.number().int().min(0) }),
  z.object({
    kind: z.literal("failLro"),
    ...window,
    errorCode: z.string().default("InternalExecutionError"),
    message: z.string().default("An internal execution error occurred. Please retry later."),
  }),
  z.object({ kind: z.literal("hold"), ...window }),
  /** A Log Analytics query (logs.queryWorkspace / logs.queryResource) answers in part: PartialError. */
  z.object({
    kind: z.literal("logsPartialError"),
    ...window,
    message: z.string().default("Query exhausted the memory allotted to it on one of the cluster's nodes."),
  }),
  z.object({
    kind: z.literal("instanceFailsProvisioning"),
    scaleSet: z.string().min(1),
    instanceId: z.string().min(1),
    errorCode: z.string().default("AllocationFailed"),
  }),
  armOutageSchema,
  z.object({
    kind: z.literal("instanceNeverReturns"),
    scaleSet: z.string().min(1),
    instanceId: z.string().min(1),
  }),
]);
export type FaultSpec = z.input<typeof faultSpecSchema>;
type ParsedFault = z.output<typeof faultSpecSchema>;
export type RequestFault = Extract<ParsedFault, { operation: string }>;
export type InstanceFault = Exclude<ParsedFault, { operation: string }>;

export interface ActiveFault {
  id: string;
  spec: RequestFault;
  remaining?: number;
  expiresAtMs?: number;
}

interface HeldRequest {
  faultId: string;
  operation: string;
  release: () => void;
}

/** What the server must do with a request before handling it. */
export type FaultAction =
  | { kind: "throttle"; retryAfterSeconds: number }
  | { kind: "serverError"; status: number }
  | { kind: "outage"; retryAfterSeconds: number };

/** Operations that are not Azure Resource Manager calls: an ARM outage leaves them alone. */
function outageCovers(operation: string, metrics: boolean): boolean {
  if (operation.startsWith("bootDiagnostics.") || operation.startsWith("logs.")) return false;
  return metrics || !operation.startsWith("metrics.");
}

export class FaultController {
  readonly #faults: ActiveFault[] = [];
  readonly #held: HeldRequest[] = [];
  readonly #heldWaiters: { predicate: () => boolean; resolve: () => void }[] = [];
  readonly #now: () => number;
  /** Simulated seconds per wall-clock second: turns an outage's simulated length into wall time. */
  readonly #timeScale: number;

  constructor(now: () => number = Date.now, timeScale = 1) {
    this.#now = now;
    this.#timeScale = timeScale;
  }

  add(spec: RequestFault): ActiveFault {
    const fault: ActiveFault = {
      id: randomUUID(),
      spec,
      ...("count" in spec && spec.count !== undefined ? { remaining: spec.count } : {}),
      ...(spec.kind === "armOutage"
        ? { expiresAtMs: this.#now() + (spec.simulatedSeconds * 1000) / this.#timeScale }
        : spec.durationSeconds !== undefined
          ? { expiresAtMs: this.#now() + spec.durationSeconds * 1000 }
          : {}),
    };
    this.#faults.push(fault);
    return fault;
  }

  list(): ActiveFault[] {
    this.#expire();
    return [...this.#faults];
  }

  /** Removes a fault; held requests of a removed hold are released. */
  remove(id: string): boolean {
    const index = this.#faults.findIndex((f) => f.id === id);
    if (index >= 0) this.#faults.splice(index, 1);
    const released = this.release(id);
    return index >= 0 || released > 0;
  }

  clear(): void {
    for (const fault of [...this.#faults]) this.remove(fault.id);
    for (const held of this.#held.splice(0)) held.release();
  }

  /** Releases every request held by `faultId` (all holds when omitted); the hold itself stays unless removed. */
  release(faultId?: string): number {
    const released = this.#held.filter((h) => faultId === undefined || h.faultId === faultId);
    for (const held of released) {
      this.#held.splice(this.#held.indexOf(held), 1);
      held.release();
    }
    return released.length;
  }

  held(operation?: string): { faultId: string; operation: string }[] {
    return this.#held
      .filter((h) => operation === undefined || h.operation === operation)
      .map(({ faultId, operation: op }) => ({ faultId, operation: op }));
  }

  /** Resolves once at least `count` requests to `operation` (any when omitted) are held; `signal` gives up (never resolves). */
  waitForHeld(operation?: string, count = 1, signal?: AbortSignal): Promise<void> {
    const predicate = () => this.held(operation).length >= count;
    if (predicate()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { predicate, resolve };
      this.#heldWaiters.push(waiter);
      signal?.addEventListener("abort", () => {
        const index = this.#heldWaiters.indexOf(waiter);
        if (index >= 0) this.#heldWaiters.splice(index, 1);
      });
    });
  }

  #expire(): void {
    const now = this.#now();
    for (let i = this.#faults.length - 1; i >= 0; i--) {
      const fault = this.#faults[i];
      if (fault && ((fault.expiresAtMs !== undefined && fault.expiresAtMs <= now) || fault.remaining === 0)) {
        this.#faults.splice(i, 1);
      }
    }
  }

  #take(operation: string, kind: RequestFault["kind"]): ActiveFault | undefined {
    this.#expire();
    const fault = this.#faults.find(
      (f) => f.spec.kind === kind && (f.spec.operation === "*" || f.spec.operation === operation),
    );
    if (fault && fault.remaining !== undefined) fault.remaining -= 1;
    return fault;
  }

  /** An outage first (ARM is down: nothing else happens), then latency and holds (they delay), then at most one refusal (429 or 5xx). */
  async apply(operation: string): Promise<FaultAction | undefined> {
    this.#expire();
    const outage = this.#faults.find(
      (f) => f.spec.kind === "armOutage" && outageCovers(operation, f.spec.metrics),
    )?.spec;
    if (outage?.kind === "armOutage") return { kind: "outage", retryAfterSeconds: outage.retryAfterSeconds };
    const latency = this.#take(operation, "latency")?.spec;
    if (latency?.kind === "latency") {
      const ms = latency.latencyMs;
      await new Promise((r) => setTimeout(r, ms));
    }
    const hold = this.#take(operation, "hold");
    if (hold) {
      await new Promise<void>((resolve) => {
        this.#held.push({ faultId: hold.id, operation, release: resolve });
        for (const waiter of [...this.#heldWaiters]) {
          if (waiter.predicate()) {
            this.#heldWaiters.splice(this.#heldWaiters.indexOf(waiter), 1);
            waiter.resolve();
          }
        }
      });
    }
    const throttle = this.#take(operation, "throttle");
    if (throttle?.spec.kind === "throttle")
      return { kind: "throttle", retryAfterSeconds: throttle.spec.retryAfterSeconds };
    const error = this.#take(operation, "serverError");
    if (error?.spec.kind === "serverError") return { kind: "serverError", status: error.spec.status };
    return undefined;
  }

  /** A Log Analytics query should answer in part, if a logsPartialError fault says so. */
  takeLogsPartialError(operation: string): { message: string } | undefined {
    const fault = this.#take(operation, "logsPartialError");
    return fault?.spec.kind === "logsPartialError" ? { message: fault.spec.message } : undefined;
  }

  /** An LRO started by `operation` should end Failed with this error, if a failLro fault says so. */
  takeLroFailure(operation: string): { code: string; message: string } | undefined {
    const fault = this.#take(operation, "failLro");
    return fault?.spec.kind === "failLro"
      ? { code: fault.spec.errorCode, message: fault.spec.message }
      : undefined;
  }
}
