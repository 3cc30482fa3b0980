/**
 * Errors the Azure adapters throw. Each carries a code (in the manner of Fastify and BullMQ), the
 * HTTP status, Azure's own error code and Retry-After, and says whether a retry may help; the
 * engine's retry policy (src/engine/core/retry-policy.ts) reads them to retry transient failures with
 * backoff and give up at once on the others. Messages never carry tokens or SAS query strings.
 */

import { isRestError } from "@azure/core-rest-pipeline";
import { redactSecrets } from "../logging/redact.ts";

export class AzureAdapterError extends Error {
  readonly code: string;
  /** HTTP status from Azure, 0 when no response arrived (network, TLS). */
  readonly statusCode: number;
  /** True when the same call may succeed later (5xx, network, 409 conflicts with a running operation). */
  readonly transient: boolean;
  /** Azure's error code (`AuthorizationFailed`, `OperationPreempted`, …) when Azure sent one. */
  readonly azureCode: string | undefined;
  /** How long Azure's Retry-After header asked the caller to wait, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: string,
    message: string,
    options: {
      statusCode?: number;
      transient?: boolean;
      cause?: unknown;
      azureCode?: string;
      retryAfterMs?: number;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AzureAdapterError";
    this.code = code;
    this.statusCode = options.statusCode ?? 0;
    this.transient = options.transient ?? false;
    this.azureCode = options.azureCode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * HTTP statuses a new attempt may get past: no response (0), 408, 409 (an operation still runs on
 * the resource), 429 and 5xx. 400, 401, 403, 404 and 412 are permanent.
 */
export function isTransientStatus(status: number): boolean {
  return status === 0 || status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Retry-After (delta seconds or an HTTP date) in milliseconds, undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The status Azure answered with, or undefined when the error is not an HTTP error from the SDK. */
export function statusOf(error: unknown): number | undefined {
  return isRestError(error) ? error.statusCode : undefined;
}

export function isNotFound(error: unknown): boolean {
  return statusOf(error) === 404;
}

/**
 * Wraps an SDK error for `what` (an operation and resource a person can recognise). The Azure
 * error code and message are kept; the request (URL, headers) is not, so nothing secret leaks.
 */
export function wrapAzureError(what: string, error: unknown): AzureAdapterError {
  if (error instanceof AzureAdapterError) return error;
  if (isRestError(error)) {
    const status = error.statusCode ?? 0;
    const azureCode = error.code ?? "UnknownError";
    const retryAfterMs = parseRetryAfter(error.response?.headers.get("retry-after"));
    return new AzureAdapterError(
      `AZURE_${status || "NETWORK"}`,
      `${what}: ${azureCode}: ${redactSecrets(error.message)}`,
      {
        statusCode: status,
        transient: isTransientStatus(status),
        azureCode,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new AzureAdapterError("AZURE_NETWORK", `${what}: ${redactSecrets(message)}`, { transient: true });
}
