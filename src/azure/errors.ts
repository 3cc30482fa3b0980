/**
 * Errors the Azure adapters throw. Each carries a code (in the manner of Fastify and BullMQ) and
 * says whether a retry may help, so the engine can retry transient failures with backoff and give
 * up at once on the others. Messages never carry tokens or SAS query strings.
 */

import { isRestError } from "@azure/core-rest-pipeline";
import { redactSecrets } from "../logging/redact.ts";

export class AzureAdapterError extends Error {
  readonly code: string;
  /** HTTP status from Azure, 0 when no response arrived (network, TLS). */
  readonly statusCode: number;
  /** True when the same call may succeed later (5xx, network, 409 conflicts with a running operation). */
  readonly transient: boolean;
  constructor(
    code: string,
    message: string,
    options: { statusCode?: number; transient?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AzureAdapterError";
    this.code = code;
    this.statusCode = options.statusCode ?? 0;
    this.transient = options.transient ?? false;
  }
}

/**
 * Whether retrying may help: the engine retries these with backoff and fails an effect at once
 * on the others. Errors that are not the adapters' own (bugs) are not retried.
 */
export function isTransientError(error: unknown): boolean {
  return error instanceof AzureAdapterError && error.transient;
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
    const transient = status === 0 || status >= 500 || status === 409 || status === 429;
    return new AzureAdapterError(
      `AZURE_${status || "NETWORK"}`,
      `${what}: ${azureCode}: ${redactSecrets(error.message)}`,
      {
        statusCode: status,
        transient,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new AzureAdapterError("AZURE_NETWORK", `${what}: ${redactSecrets(message)}`, { transient: true });
}
