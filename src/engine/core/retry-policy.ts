/**
 * The one retry policy of effects: for each error an executor threw, whether another attempt may
 * help (transient) or cannot (permanent), and how long to wait before it. Every other module asks
 * here; nothing else decides which failures are retried.
 *
 * Transient: 429, 5xx, 409 (a conflicting operation still runs), no response at all (connection
 * refused/reset, DNS, TLS), a request timeout, and a long-running operation that Azure ended with
 * a retryable code. Permanent: everything else, notably 400 (bad request), 401/403
 * (authorization), 404 (the scale set was deleted), 412 (precondition) and errors that are not
 * Azure's (a bug does not fix itself on the next attempt).
 *
 * The wait is a capped exponential backoff with full jitter, never shorter than the Retry-After
 * Azure asked for. The policy is pure: no I/O, no clock; randomness is injectable for tests.
 */
import { AzureAdapterError } from "../../azure/errors.ts";

export { isTransientStatus, parseRetryAfter } from "../../azure/errors.ts";

export type ErrorClass = "transient" | "permanent";

export interface ErrorVerdict {
  class: ErrorClass;
  /** The error's code (`AZURE_403`, `ECONNRESET`, …), `UNKNOWN` when it had none. */
  code: string;
  /** HTTP status when Azure answered. */
  statusCode?: number;
  /** What Azure's Retry-After asked for, in milliseconds. */
  retryAfterMs?: number;
}

/** Node's codes for a call that never got an answer: the next attempt may well get one. */
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "REQUEST_SEND_ERROR",
]);

/** Error names of a request that timed out. */
const timeoutNames = new Set(["TimeoutError"]);

/** Azure error codes of a failed long-running operation that a new attempt may get past. */
const retryableAzureCodes = new Set([
  "RetryableError",
  "InternalExecutionError",
  "InternalServerError",
  "OperationPreempted",
  "TooManyRequests",
  "ServiceUnavailable",
  "GatewayTimeout",
]);

function codeOf(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  return typeof error.code === "string" ? error.code : undefined;
}

/** Decides whether an executor's error is worth another attempt. */
export function classifyError(error: unknown): ErrorVerdict {
  if (error instanceof AzureAdapterError) {
    const verdict: ErrorVerdict = {
      class:
        error.transient || (error.azureCode !== undefined && retryableAzureCodes.has(error.azureCode))
          ? "transient"
          : "permanent",
      code: error.code,
    };
    if (error.statusCode !== 0) verdict.statusCode = error.statusCode;
    if (error.retryAfterMs !== undefined) verdict.retryAfterMs = error.retryAfterMs;
    return verdict;
  }
  const code = codeOf(error);
  const name = error instanceof Error ? error.name : "";
  const transient = (code !== undefined && connectionCodes.has(code)) || timeoutNames.has(name);
  return { class: transient ? "transient" : "permanent", code: code ?? "UNKNOWN" };
}

export interface BackoffOptions {
  /** The first retry's ceiling; doubles per attempt. */
  baseMs: number;
  /** No wait is longer, except one that Retry-After asks for. */
  capMs: number;
}

/**
 * How long to wait before retry number `retry` (1 for the first retry): uniformly random in
 * [0, min(cap, base·2^(retry-1))] (full jitter, so many failing effects do not retry in step),
 * and never less than `retryAfterMs`.
 */
export function retryDelayMs(
  retry: number,
  options: BackoffOptions,
  retryAfterMs = 0,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.max(Math.round(random() * ceiling), retryAfterMs);
}

/** Whether an effect that failed with `verdict` on attempt `attempt` (1-based) of `attempts` is given up. */
export function givesUp(verdict: ErrorVerdict, attempt: number, attempts: number): boolean {
  return verdict.class === "permanent" || attempt >= attempts;
}
