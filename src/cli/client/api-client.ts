/**
 * The HTTP client the commands share: one place that adds the bearer token, reads problem
 * documents into ApiError, and turns "no answer" into DaemonUnreachableError.
 */
import type { DeadLetter, RolloutView, TimelineEntry } from "../../domain/rollout-view.ts";
import type { EmergencyStopState, StopResult } from "../../emergency-stop/emergency-stop.ts";
import type { RolloutAction, RolloutPlan } from "../../engine/service/rollout-service.ts";
import type { InventoryAnswer } from "../../inventory/inventory-service.ts";
import { ApiError, DaemonUnreachableError, type ProblemBody } from "./errors.ts";

export const defaultApiUrl = "http://127.0.0.1:8080";

export interface ApiClientOptions {
  baseUrl: string;
  token?: string;
  fetch?: typeof fetch;
  /** Per-request limit, beyond a long-poll's own wait (default 30 s). */
  requestTimeoutMs?: number;
}

export type SpecFormat = "yaml" | "json";

export interface ListQuery {
  phase?: string;
  scaleSetId?: string;
  limit?: number;
  cursor?: string;
}

interface RequestOptions {
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class ApiClient {
  /** Origin only: safe to print (no credentials, no path). */
  readonly displayUrl: string;
  private readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly requestTimeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.displayUrl = safeOrigin(this.baseUrl);
    this.token = options.token || undefined;
    this.fetchImpl = options.fetch ?? fetch;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  plan(specText: string, format: SpecFormat): Promise<RolloutPlan> {
    return this.json("POST", "/v1/rollouts?dryRun=true", { body: specText, contentType: mediaType(format) });
  }

  start(specText: string, format: SpecFormat, idempotencyKey?: string): Promise<RolloutView> {
    return this.json("POST", "/v1/rollouts", {
      body: specText,
      contentType: mediaType(format),
      ...(idempotencyKey ? { headers: { "idempotency-key": idempotencyKey } } : {}),
    });
  }

  list(query: ListQuery): Promise<{ items: RolloutView[]; nextCursor?: string }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    const qs = params.size > 0 ? `?${params}` : "";
    return this.json("GET", `/v1/rollouts${qs}`);
  }

  /** `deadLetters` is absent from daemons older than the retry policy. */
  /** A compacted rollout (retention) has no timeline nor dead letters any more. */
  get(id: string): Promise<RolloutView & { timeline?: TimelineEntry[]; deadLetters?: DeadLetter[] }> {
    return this.json("GET", `/v1/rollouts/${encodeURIComponent(id)}`);
  }

  /** The release record: JSON, or the Markdown release note. */
  record(id: string, format: "json" | "markdown"): Promise<unknown> {
    const path = `/v1/rollouts/${encodeURIComponent(id)}/record`;
    if (format === "json") return this.json("GET", path);
    return this.text("GET", path, { headers: { accept: "text/markdown" } });
  }

  inventory(query: {
    subscriptionId?: string;
    resourceGroup?: string;
    refresh?: boolean;
    source?: string;
  }): Promise<InventoryAnswer> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    return this.json("GET", `/v1/inventory${params.size > 0 ? `?${params}` : ""}`);
  }

  act(id: string, action: RolloutAction, reason?: string): Promise<RolloutView> {
    const path = action === "skipWindow" ? "skip-window" : action;
    return this.json("POST", `/v1/rollouts/${encodeURIComponent(id)}/${path}`, {
      body: JSON.stringify(reason ? { reason } : {}),
      contentType: "application/json",
    });
  }

  emergencyStopState(): Promise<EmergencyStopState> {
    return this.json("GET", "/v1/stop");
  }

  emergencyStop(reason: string): Promise<StopResult> {
    return this.json("POST", "/v1/stop", {
      body: JSON.stringify({ reason }),
      contentType: "application/json",
    });
  }

  clearEmergencyStop(reason?: string): Promise<EmergencyStopState & { clearedBy: string }> {
    return this.json("POST", "/v1/stop/clear", {
      body: JSON.stringify(reason ? { reason } : {}),
      contentType: "application/json",
    });
  }

  rollbackScaleSet(scaleSetId: string, reason: string): Promise<RolloutView> {
    return this.json("POST", "/v1/rollback", {
      body: JSON.stringify({ scaleSetId, reason }),
      contentType: "application/json",
    });
  }

  /** One long-poll: `terminal` is false when the daemon answered 202 (still running). */
  async wait(
    id: string,
    timeoutSeconds: number,
    signal?: AbortSignal,
  ): Promise<{ terminal: boolean; view: RolloutView }> {
    const response = await this.send(
      "GET",
      `/v1/rollouts/${encodeURIComponent(id)}/wait?timeoutSeconds=${timeoutSeconds}`,
      {
        ...(signal ? { signal } : {}),
        timeoutMs: timeoutSeconds * 1000 + this.requestTimeoutMs,
      },
    );
    const view = (await this.read(response)) as RolloutView;
    return { terminal: response.status === 200, view };
  }

  /** Opens the timeline's event stream; the caller reads and closes the body. */
  async events(id: string, lastEventId: number | undefined, signal: AbortSignal): Promise<Response> {
    const response = await this.send("GET", `/v1/rollouts/${encodeURIComponent(id)}/events`, {
      headers: {
        accept: "text/event-stream",
        ...(lastEventId !== undefined ? { "last-event-id": String(lastEventId) } : {}),
      },
      signal,
      timeoutMs: 0,
    });
    if (!response.ok) await this.read(response);
    return response;
  }

  /** A non-JSON answer (Markdown): the body as text; a problem still throws ApiError. */
  private async text(method: string, path: string, options: RequestOptions = {}): Promise<string> {
    const response = await this.send(method, path, options);
    if (!response.ok) await this.read(response);
    try {
      return await response.text();
    } catch (err) {
      throw new DaemonUnreachableError(this.displayUrl, err);
    }
  }

  private async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.read(await this.send(method, path, options))) as T;
  }

  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json", ...options.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (options.contentType) headers["content-type"] = options.contentType;
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const signals = [options.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
      });
    } catch (err) {
      // A caller's own abort is not the daemon's fault: let it through as is.
      if (options.signal?.aborted) throw err;
      throw new DaemonUnreachableError(this.displayUrl, err);
    }
  }

  private async read(response: Response): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (err) {
      throw new DaemonUnreachableError(this.displayUrl, err);
    }
    const body: unknown = text === "" ? undefined : safeJson(text);
    if (response.ok) return body;
    const problem: ProblemBody =
      typeof body === "object" && body !== null
        ? (body as ProblemBody)
        : { detail: `HTTP ${response.status}` };
    throw new ApiError(response.status, problem);
  }
}

function mediaType(format: SpecFormat): string {
  return format === "json" ? "application/json" : "application/yaml";
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid CANARYD_URL)";
  }
}
