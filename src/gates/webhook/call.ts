/**
 * One webhook gate's HTTP exchange: node:http(s) with the guarded lookup (./guard.ts), a
 * per-attempt timeout, no redirects followed (a redirect could lead anywhere), an answer capped at
 * 1 MiB, and bounded retries inside the evaluation: a 5xx, a 429, a timeout or a lost connection
 * is tried again after 0.5 s, 1 s, … (never longer than the timeout), at most `retries` times.
 * Returns what happened; throws only when the evaluation is aborted (daemon shutdown).
 * Stateless: the effect's id goes along as Idempotency-Key, so a receiver can tell a re-run.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { rootCertificates } from "node:tls";
import { checkHost, guardedLookup, WebhookRefusedError } from "./guard.ts";

export interface WebhookRequest {
  url: URL;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  timeoutSeconds: number;
  retries: number;
  allowedHosts: readonly string[];
  /** The configuration key of that list, named in a refusal (default gates.webhook.allowedHosts). */
  allowedHostsKey?: string;
  /** Extra trusted CA certificates (PEM), added to Node's own. */
  extraCa?: string;
  signal?: AbortSignal;
}

export type WebhookAttempt =
  | { kind: "answer"; status: number; body: string; headers: IncomingHttpHeaders }
  | { kind: "timeout" }
  | { kind: "network"; code: string; message: string };

export type WebhookExchange =
  | { kind: "refused"; code: WebhookRefusedError["code"]; message: string }
  | { kind: "done"; last: WebhookAttempt; attempts: { outcome: string; ms: number }[] };

const maxAnswerBytes = 1 << 20;

/** Worth another attempt: the check's service (or the way to it) had a bad moment. */
function transient(attempt: WebhookAttempt): boolean {
  return attempt.kind !== "answer" || attempt.status >= 500 || attempt.status === 429;
}

function describe(attempt: WebhookAttempt): string {
  if (attempt.kind === "answer") return `HTTP ${attempt.status}`;
  if (attempt.kind === "timeout") return "timeout";
  return attempt.code;
}

export async function callWebhook(request: WebhookRequest): Promise<WebhookExchange> {
  let loopbackAllowed: boolean;
  try {
    ({ loopbackAllowed } = checkHost(request.url, request.allowedHosts, request.allowedHostsKey));
  } catch (error) {
    if (error instanceof WebhookRefusedError)
      return { kind: "refused", code: error.code, message: error.message };
    throw error;
  }
  const attempts: { outcome: string; ms: number }[] = [];
  for (let attempt = 0; ; attempt++) {
    const started = Date.now();
    const outcome = await attemptOnce(request, loopbackAllowed);
    if (outcome instanceof WebhookRefusedError)
      return { kind: "refused", code: outcome.code, message: outcome.message };
    attempts.push({ outcome: describe(outcome), ms: Date.now() - started });
    if (!transient(outcome) || attempt >= request.retries) return { kind: "done", last: outcome, attempts };
    const delay = Math.min(500 * 2 ** attempt, request.timeoutSeconds * 1000);
    await sleep(delay, undefined, request.signal ? { signal: request.signal } : {});
  }
}

function attemptOnce(
  request: WebhookRequest,
  loopbackAllowed: boolean,
): Promise<WebhookAttempt | WebhookRefusedError> {
  request.signal?.throwIfAborted();
  const send = request.url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const timeout = AbortSignal.timeout(request.timeoutSeconds * 1000);
    const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
    const req = send(
      request.url,
      {
        method: request.method,
        headers: request.headers,
        lookup: guardedLookup(loopbackAllowed),
        signal,
        ...(request.extraCa ? { ca: [...rootCertificates, request.extraCa] } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size <= maxAnswerBytes) chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({
            kind: "answer",
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            headers: res.headers,
          }),
        );
        res.on("error", (error) => settleError(error));
      },
    );
    const settleError = (error: Error & { code?: string }) => {
      if (request.signal?.aborted) return reject(request.signal.reason);
      if (error instanceof WebhookRefusedError) return resolve(error);
      if (timeout.aborted) return resolve({ kind: "timeout" });
      resolve({ kind: "network", code: error.code ?? "ERROR", message: error.message });
    };
    req.on("error", settleError);
    req.end(request.body);
  });
}
