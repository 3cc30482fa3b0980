/**
 * One delivery attempt to one service: the payload each service expects, sent through the webhook
 * gate's guarded HTTP call (allowed hosts, no link-local or metadata addresses, no redirects).
 * Secrets are read by name from `notifications.secrets` here and nowhere else; they never reach a
 * log line, a payload, an error message or an API answer. Stateless apart from what `threads`
 * keeps (Slack: the first message's ts per rollout and subscription).
 *
 * Generic webhook: POST JSON `{ schemaVersion, eventId, idempotencyKey, trigger, severity, ... }`
 * with headers `Idempotency-Key`, `X-Canaryd-Event-Id`, `X-Canaryd-Timestamp` (Unix seconds) and
 * `X-Canaryd-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
 */
import { createHmac } from "node:crypto";
import { callWebhook, type WebhookExchange } from "../gates/webhook/call.ts";
import type { NotificationService, NotificationsConfig } from "./config.ts";
import { type NotificationDelivery, payloadSchemaVersion } from "./events.ts";

export type SendResult =
  | { kind: "sent"; threadTs?: string }
  | { kind: "failed"; permanent: boolean; reason: string };

export interface SendContext {
  config: NotificationsConfig;
  /** Slack bot: the thread to answer in, when the rollout already has one. */
  threadTs?: string;
  signal?: AbortSignal;
  now: () => Date;
}

export function webhookPayload(delivery: NotificationDelivery, publicUrl: string | undefined) {
  const base = publicUrl?.replace(/\/$/, "");
  return {
    schemaVersion: payloadSchemaVersion,
    eventId: delivery.eventId,
    idempotencyKey: delivery.id,
    subscription: delivery.subscription,
    trigger: delivery.trigger,
    severity: delivery.severity,
    at: delivery.at,
    message: delivery.message,
    details: delivery.details,
    ...(delivery.reminder !== undefined ? { reminder: delivery.reminder } : {}),
    rollout: delivery.rollout,
    links: base
      ? {
          rollout: `${base}/v1/rollouts/${delivery.rollout.id}`,
          record: `${base}/v1/rollouts/${delivery.rollout.id}/record`,
          dashboard: `${base}/#/rollouts/${delivery.rollout.id}`,
        }
      : {},
  };
}

/** The signature a receiver recomputes: hex HMAC-SHA256 of `<timestamp>.<raw body>` with the shared secret. */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function text(delivery: NotificationDelivery): string {
  const reminder = delivery.reminder !== undefined ? ` (reminder ${delivery.reminder})` : "";
  return `[${delivery.severity}] ${delivery.rollout.name} (${delivery.rollout.id}): ${delivery.message}${reminder}`;
}

export async function send(
  service: NotificationService,
  delivery: NotificationDelivery,
  to: string | undefined,
  ctx: SendContext,
): Promise<SendResult> {
  const secret = (name: string) => ctx.config.secrets[name] ?? "";
  const post = (url: string, headers: Record<string, string>, body: string) =>
    callWebhook({
      url: new URL(url),
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": delivery.id, ...headers },
      body,
      timeoutSeconds: ctx.config.timeoutSeconds,
      retries: 0,
      allowedHosts: ctx.config.allowedHosts,
      allowedHostsKey: "notifications.allowedHosts",
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });

  if (service.kind === "webhook") {
    const body = JSON.stringify(webhookPayload(delivery, ctx.config.publicUrl));
    const timestamp = String(Math.floor(ctx.now().getTime() / 1000));
    return judge(
      await post(
        service.url,
        {
          "x-canaryd-event-id": delivery.eventId,
          "x-canaryd-timestamp": timestamp,
          "x-canaryd-signature": signature(secret(service.signingSecret), timestamp, body),
        },
        body,
      ),
    );
  }
  if (service.kind === "teams") {
    const body = JSON.stringify({
      type: "message",
      attachments: [
        {
          contentType: "application/vnd.microsoft.card.adaptive",
          content: {
            type: "AdaptiveCard",
            $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
            version: "1.4",
            body: [{ type: "TextBlock", text: text(delivery), wrap: true }],
          },
        },
      ],
    });
    return judge(await post(secret(service.urlSecret), {}, body));
  }
  if (service.webhookUrlSecret !== undefined) {
    // Incoming webhooks post to one channel and return no ts: no threads are possible.
    return judge(await post(secret(service.webhookUrlSecret), {}, JSON.stringify({ text: text(delivery) })));
  }
  const body = JSON.stringify({
    channel: to,
    text: text(delivery),
    ...(ctx.threadTs ? { thread_ts: ctx.threadTs } : {}),
    metadata: { event_type: "canaryd_notification", event_payload: { idempotency_key: delivery.id } },
  });
  const exchange = await post(
    `${service.apiUrl.replace(/\/$/, "")}/chat.postMessage`,
    { authorization: `Bearer ${secret(service.tokenSecret ?? "")}` },
    body,
  );
  const verdict = judge(exchange);
  if (verdict.kind !== "sent" || exchange.kind !== "done" || exchange.last.kind !== "answer") return verdict;
  // The Web API answers 200 with { ok: false, error } for its own refusals.
  let answer: { ok?: boolean; ts?: string; error?: string };
  try {
    answer = JSON.parse(exchange.last.body) as typeof answer;
  } catch {
    return { kind: "failed", permanent: false, reason: "Slack answered with something that is not JSON" };
  }
  if (answer.ok !== true) {
    const error = String(answer.error ?? "unknown");
    return {
      kind: "failed",
      permanent: error !== "ratelimited" && error !== "internal_error",
      reason: `Slack: ${error}`,
    };
  }
  return answer.ts ? { kind: "sent", threadTs: answer.ts } : { kind: "sent" };
}

/** 2xx is sent; 408, 429, 5xx, timeouts and lost connections are retried; other answers and refusals are not. */
function judge(exchange: WebhookExchange): SendResult {
  if (exchange.kind === "refused") return { kind: "failed", permanent: true, reason: exchange.message };
  const last = exchange.last;
  if (last.kind === "timeout") return { kind: "failed", permanent: false, reason: "timeout" };
  if (last.kind === "network") return { kind: "failed", permanent: false, reason: last.code };
  if (last.status >= 200 && last.status < 300) return { kind: "sent" };
  const retried = last.status >= 500 || last.status === 429 || last.status === 408;
  return { kind: "failed", permanent: !retried, reason: `HTTP ${last.status}` };
}
