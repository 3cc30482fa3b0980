/**
 * The webhook gate kind: asks a team's own check about the batch and judges one value of its
 * JSON answer (`answer.pointer`) against `equals` / `min` / `max`.
 *
 * Verdicts: the condition holds → passed; it does not → failed; no usable answer (5xx or 429
 * after the bounded retries, a timeout, no connection, a 3xx/4xx, an answer that is not JSON or
 * has nothing at the pointer, a refused host or address, a secret not configured) → inconclusive,
 * never passed. The request carries the rollout id, scale set, batch (1 = the canary; counted
 * from the instances' distinct return times), the evaluated instances, the analysis window start
 * and whether the verdict is final; POST sends them as JSON (`rollout`, beside the spec's `body`),
 * GET as query parameters.
 *
 * Secrets: header values named `{ secret }` are resolved from `gates.webhook.secrets` at call time
 * and never reach the evidence (which lists header names only) or the summary; any echo of a
 * secret value in the answer excerpt is blanked. Read-only: a re-run asks again (the effect id is
 * the request's Idempotency-Key).
 */
import { readFile } from "node:fs/promises";
import type { PreflightFinding } from "../../domain/effects.ts";
import { redactSecrets, redactUrl } from "../../logging/redact.ts";
import { defaultGateSettings, type GateProvider, type GateRun, type GateSettings } from "../provider.ts";
import { callWebhook, type WebhookAttempt } from "./call.ts";
import { checkHost, WebhookRefusedError } from "./guard.ts";
import { resolvePointer } from "./json-pointer.ts";
import { type WebhookGateSpec, webhookGateSchema } from "./schema.ts";

export const webhookGate: GateProvider<typeof webhookGateSchema> = {
  kind: "webhook",
  schema: webhookGateSchema,
  docs: "webhook",
  simulator: ["checks.webhook"],
  preflight: webhookPreflight,
  judge: judgeWebhook,
};

/**
 * Refused at start, naming the spec path and the configuration key: a host the configuration
 * does not list (or an address never allowed), a header naming a secret that is not configured.
 * DNS is not consulted here: the call checks the resolved addresses each time.
 */
export function webhookPreflight(
  spec: WebhookGateSpec,
  settings: GateSettings,
  path: string,
): PreflightFinding[] {
  const findings: PreflightFinding[] = [];
  try {
    checkHost(new URL(spec.url), settings.webhook.allowedHosts);
  } catch (error) {
    if (!(error instanceof WebhookRefusedError)) throw error;
    findings.push({ code: error.code, message: `${path}.url: ${error.message}` });
  }
  for (const [name, value] of Object.entries(spec.headers))
    if (typeof value !== "string" && settings.webhook.secrets[value.secret] === undefined)
      findings.push({
        code: "WEBHOOK_SECRET_MISSING",
        message: `${path}.headers.${name}: secret ${value.secret} is not configured under gates.webhook.secrets`,
      });
  return findings;
}

const excerptChars = 500;

/** What the request tells the check about the batch. */
export function webhookContext(run: GateRun) {
  const byId = new Map(run.instances.map((instance) => [instance.instanceId, instance.name]));
  const returns = new Set(run.instanceIds.map((instanceId) => run.upgradedAt?.[instanceId] ?? run.since));
  return {
    rolloutId: run.rolloutId ?? null,
    scaleSetId: run.scaleSetId,
    batch: Math.max(1, returns.size),
    instances: run.instanceIds.map((instanceId) => ({ instanceId, name: byId.get(instanceId) ?? null })),
    since: run.since,
    final: run.final ?? false,
    evaluationId: run.effectId ?? null,
  };
}

export async function judgeWebhook(spec: WebhookGateSpec, run: GateRun) {
  const measuredAt = () => run.now().toISOString();
  const settings = (run.settings ?? defaultGateSettings).webhook;
  const secretValues = Object.values(settings.secrets).filter((value) => value.length > 0);
  const blank = (text: string) =>
    secretValues.reduce((out, secret) => out.replaceAll(secret, "[secret]"), redactSecrets(text));
  const context = webhookContext(run);
  const url = new URL(spec.url);
  const request = { method: spec.method, url: redactUrl(spec.url), headers: Object.keys(spec.headers) };
  const base = { gate: "webhook" as const, instanceIds: run.instanceIds };
  const inconclusive = (summary: string, evidence: Record<string, unknown>) => ({
    ...base,
    verdict: "inconclusive" as const,
    summary: blank(summary),
    measuredAt: measuredAt(),
    evidence: { request, ...evidence },
  });

  const headers: Record<string, string> = {
    accept: "application/json",
    "user-agent": "canaryd-webhook-gate",
  };
  for (const [name, value] of Object.entries(spec.headers)) {
    if (typeof value === "string") headers[name.toLowerCase()] = value;
    else {
      const secret = settings.secrets[value.secret];
      if (secret === undefined)
        return inconclusive(`webhook header ${name} names secret ${value.secret}, which is not configured`, {
          code: "WEBHOOK_SECRET_MISSING",
          secret: value.secret,
        });
      headers[name.toLowerCase()] = secret;
    }
  }
  if (run.effectId) headers["idempotency-key"] = run.effectId;
  let body: string | undefined;
  if (spec.method === "POST") {
    body = JSON.stringify({ ...spec.body, rollout: context });
    headers["content-type"] = "application/json";
  } else {
    url.searchParams.set("rolloutId", context.rolloutId ?? "");
    url.searchParams.set("scaleSetId", context.scaleSetId);
    url.searchParams.set("batch", String(context.batch));
    url.searchParams.set("instances", run.instanceIds.join(","));
  }

  const exchange = await callWebhook({
    url,
    method: spec.method,
    headers,
    ...(body === undefined ? {} : { body }),
    timeoutSeconds: spec.timeoutSeconds,
    retries: spec.retries,
    allowedHosts: settings.allowedHosts,
    ...(settings.caBundleFile ? { extraCa: await readFile(settings.caBundleFile, "utf8") } : {}),
    ...(run.signal ? { signal: run.signal } : {}),
  });
  if (exchange.kind === "refused")
    return inconclusive(`webhook call refused: ${exchange.message}`, { code: exchange.code });
  const { last, attempts } = exchange;
  const tried = { attempts };
  if (last.kind !== "answer" || last.status < 200 || last.status >= 300)
    return inconclusive(`webhook gave no usable answer after ${attempts.length} attempt(s): ${why(last)}`, {
      ...tried,
      ...(last.kind === "answer"
        ? { status: last.status, answer: blank(last.body.slice(0, excerptChars)) }
        : {}),
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(last.body);
  } catch {
    return inconclusive(`webhook answered HTTP ${last.status} with a body that is not JSON`, {
      ...tried,
      status: last.status,
      answer: blank(last.body.slice(0, excerptChars)),
    });
  }
  const found = resolvePointer(parsed, spec.answer.pointer);
  const condition = {
    pointer: spec.answer.pointer,
    ...(spec.answer.equals === undefined ? {} : { equals: spec.answer.equals }),
    ...(spec.answer.min === undefined ? {} : { min: spec.answer.min }),
    ...(spec.answer.max === undefined ? {} : { max: spec.answer.max }),
  };
  if (!found.found)
    return inconclusive(`webhook answer has no value at ${spec.answer.pointer}`, {
      ...tried,
      status: last.status,
      condition,
      answer: blank(last.body.slice(0, excerptChars)),
    });
  const value = found.value;
  const problems = conditionProblems(value, spec.answer);
  const evidence = {
    request,
    ...tried,
    status: last.status,
    condition,
    value: typeof value === "string" ? blank(value).slice(0, excerptChars) : value,
  };
  if (problems === "notNumber")
    return inconclusive(`webhook answer at ${spec.answer.pointer} is not a number`, evidence);
  const shown = blank(JSON.stringify(value)).slice(0, 100);
  if (problems.length > 0)
    return {
      ...base,
      verdict: "failed" as const,
      summary: `webhook answer ${spec.answer.pointer} = ${shown}: ${problems.join(", ")}`,
      measuredAt: measuredAt(),
      evidence,
    };
  return {
    ...base,
    verdict: "passed" as const,
    summary: `webhook answer ${spec.answer.pointer} = ${shown} meets the condition`,
    measuredAt: measuredAt(),
    evidence,
  };
}

function why(attempt: WebhookAttempt): string {
  if (attempt.kind === "timeout") return "timed out";
  if (attempt.kind === "network") return `${attempt.code} ${attempt.message}`;
  if (attempt.status >= 300 && attempt.status < 400)
    return `HTTP ${attempt.status} (redirects are not followed)`;
  return `HTTP ${attempt.status}`;
}

/** The condition's breaches (empty: it holds), or "notNumber" when min/max meet a non-number. */
export function conditionProblems(value: unknown, answer: WebhookGateSpec["answer"]): string[] | "notNumber" {
  const problems: string[] = [];
  if (answer.equals !== undefined && value !== answer.equals)
    problems.push(`expected ${JSON.stringify(answer.equals)}`);
  if (answer.min === undefined && answer.max === undefined) return problems;
  if (typeof value !== "number" || !Number.isFinite(value)) return "notNumber";
  if (answer.min !== undefined && value < answer.min) problems.push(`below min ${answer.min}`);
  if (answer.max !== undefined && value > answer.max) problems.push(`above max ${answer.max}`);
  return problems;
}
