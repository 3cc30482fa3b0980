/**
 * The `notifications` section of the configuration: named services (where and how to send),
 * subscriptions (which events go to which service), secrets named by the services, and the
 * delivery settings. Validated once at start; every refusal names its key. Office 365 connector
 * URLs (retired by Microsoft) are refused for Teams: Teams is reached through a Workflows URL.
 */
import { z } from "zod";
import { severities, triggerNames } from "./triggers.ts";

const secretName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "a secret name (letters, digits . _ -)");
const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits and '-'");

const webhookService = z.strictObject({
  kind: z.literal("webhook"),
  /** Where the JSON payload is POSTed (https, or http for a listed loopback host). */
  url: z.url({ protocol: /^https?$/ }),
  /** Names the secret in `notifications.secrets` that signs each payload (HMAC-SHA256). */
  signingSecret: secretName,
});

const slackService = z
  .strictObject({
    kind: z.literal("slack"),
    /** A bot token (xoxb-…) by secret name: messages go to the subscription's `to` channel, one thread per rollout. */
    tokenSecret: secretName.optional(),
    /** An incoming webhook URL by secret name (the URL is a credential): one channel, no threads. */
    webhookUrlSecret: secretName.optional(),
    /** Slack's Web API base; a test points it at a local fake. */
    apiUrl: z.url({ protocol: /^https?$/ }).default("https://slack.com/api"),
  })
  .refine((s) => (s.tokenSecret === undefined) !== (s.webhookUrlSecret === undefined), {
    message: "give exactly one of tokenSecret (bot token) or webhookUrlSecret (incoming webhook)",
  });

const teamsService = z.strictObject({
  kind: z.literal("teams"),
  /** The Workflows (Power Automate) HTTP trigger URL, by secret name: its `sig` parameter is a credential. */
  urlSecret: secretName,
});

export const notificationServiceSchema = z.discriminatedUnion("kind", [
  webhookService,
  slackService,
  teamsService,
]);

export const subscriptionSchema = z.strictObject({
  /** Part of every idempotency key: renaming a subscription makes its pending deliveries new ones. */
  name,
  triggers: z.array(z.enum(triggerNames)).min(1),
  /** A key of `notifications.services`. */
  service: name,
  /** Slack bot: the channel (id or #name). Ignored by the other services. */
  to: z.string().min(1).max(200).optional(),
  minSeverity: z.enum(severities).default("info"),
  match: z
    .strictObject({
      /** Every label given must be on the rollout's spec with that value. */
      labels: z.record(z.string().min(1), z.string()).default({}),
      /** Scale set id globs (`*` any run of characters); the rollout matches when it targets one. */
      scaleSets: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  /** approvalRequired: remind every this many seconds while the rollout still waits. */
  remindSeconds: z.number().int().min(1).optional(),
});

/** Office 365 connector hosts (incoming webhooks retired by Microsoft). */
export function retiredTeamsConnector(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return (
    host.endsWith(".webhook.office.com") ||
    host === "webhook.office.com" ||
    (host === "outlook.office.com" && url.pathname.toLowerCase().startsWith("/webhook")) ||
    (host === "outlook.office365.com" && url.pathname.toLowerCase().startsWith("/webhook"))
  );
}

export const notificationsSchema = z
  .strictObject({
    services: z.record(name, notificationServiceSchema).default({}),
    subscriptions: z.array(subscriptionSchema).default([]),
    /** Values services name (signing secrets, tokens, URLs that carry credentials); never logged or answered. */
    secrets: z.record(secretName, z.string().min(1)).default({}),
    /** Hosts (`name` or `name:port`) notifications may be sent to; link-local and metadata addresses never. */
    allowedHosts: z.array(z.string().min(1).max(261)).default([]),
    /** A delivery is retried with backoff for this long after its event, then dead-lettered. */
    maxRetrySeconds: z.number().int().min(1).default(86_400),
    /** Backoff of retries: first ceiling and cap (full jitter, the engine's retry policy). */
    retryBackoffSeconds: z.number().min(0.01).default(5),
    retryBackoffMaxSeconds: z.number().min(0.01).default(900),
    /** Per request. */
    timeoutSeconds: z.number().min(0.1).max(120).default(10),
    /** Deliveries sent at once per daemon. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Links in payloads point here (the dashboard/API base URL as people reach it). */
    publicUrl: z.url().optional(),
  })
  .superRefine((n, ctx) => {
    const seen = new Set<string>();
    n.subscriptions.forEach((sub, i) => {
      if (seen.has(sub.name))
        ctx.addIssue({
          code: "custom",
          path: ["subscriptions", i, "name"],
          message: `duplicate subscription name ${sub.name}`,
        });
      seen.add(sub.name);
      const service = n.services[sub.service];
      if (!service) {
        ctx.addIssue({
          code: "custom",
          path: ["subscriptions", i, "service"],
          message: `no service ${sub.service} in notifications.services`,
        });
      } else if (service.kind === "slack" && service.tokenSecret !== undefined && sub.to === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["subscriptions", i, "to"],
          message: "a Slack bot subscription needs the channel in `to`",
        });
      }
    });
    for (const [key, service] of Object.entries(n.services)) {
      const named =
        service.kind === "webhook"
          ? { signingSecret: service.signingSecret }
          : service.kind === "slack"
            ? { tokenSecret: service.tokenSecret, webhookUrlSecret: service.webhookUrlSecret }
            : { urlSecret: service.urlSecret };
      for (const [field, secret] of Object.entries(named)) {
        if (secret !== undefined && n.secrets[secret] === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["services", key, field],
            message: `names secret ${secret}, which is not in notifications.secrets`,
          });
      }
      const urls: [string, string | undefined][] =
        service.kind === "webhook"
          ? [["url", service.url]]
          : service.kind === "slack"
            ? [
                ["apiUrl", service.tokenSecret !== undefined ? service.apiUrl : undefined],
                ["webhookUrlSecret", service.webhookUrlSecret && n.secrets[service.webhookUrlSecret]],
              ]
            : [["urlSecret", n.secrets[service.urlSecret]]];
      for (const [field, raw] of urls) {
        if (raw === undefined) continue;
        let url: URL;
        try {
          url = new URL(raw);
        } catch {
          // The value may be a secret: never echo it.
          ctx.addIssue({ code: "custom", path: ["services", key, field], message: "is not a URL" });
          continue;
        }
        if (service.kind === "teams" && retiredTeamsConnector(url)) {
          ctx.addIssue({
            code: "custom",
            path: ["services", key, field],
            message:
              "is an Office 365 connector URL (*.webhook.office.com / outlook.office.com/webhook): Microsoft retired those connectors; create a Teams Workflows (Power Automate) webhook and use its URL",
          });
          continue;
        }
        const port = url.port || (url.protocol === "https:" ? "443" : "80");
        const listed = n.allowedHosts.some(
          (h) =>
            h.toLowerCase() === url.hostname.toLowerCase() ||
            h.toLowerCase() === `${url.hostname.toLowerCase()}:${port}`,
        );
        if (!listed)
          ctx.addIssue({
            code: "custom",
            path: ["services", key, field],
            message: `host ${url.host} is not in notifications.allowedHosts`,
          });
      }
    }
  });

export type NotificationsConfig = z.output<typeof notificationsSchema>;
export type NotificationService = z.output<typeof notificationServiceSchema>;
export type Subscription = z.output<typeof subscriptionSchema>;
