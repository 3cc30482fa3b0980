/**
 * The webhook gate's spec: an HTTP call to a team's own check, judged by one value of its JSON
 * answer. Credentials are never written here: a header value is a plain string or
 * `{ secret: name }`, resolved from configuration (`gates.webhook.secrets`) when the call is made;
 * headers that carry credentials by their nature (Authorization, Cookie, API keys, tokens) must
 * name a secret.
 */
import { z } from "zod";
import { gateNameField, onInconclusive } from "../schema-fields.ts";

/** Header names whose value is a credential: an inline value is refused. */
export const credentialHeader =
  /^(authorization|proxy-authorization|cookie)$|api[-_]?key|token|secret|password|signature/i;

/** Headers canaryd sets itself or that would change where or how the request goes. */
const reservedHeader =
  /^(host|content-length|transfer-encoding|connection|upgrade|te|trailer|idempotency-key|content-type)$/i;

const secretName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-' only");
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "an HTTP header name");

export const webhookGateSchema = z
  .strictObject({
    name: gateNameField,
    kind: z.literal("webhook"),
    url: z.url({ protocol: /^https?$/, normalize: true }),
    method: z.enum(["GET", "POST"]).default("POST"),
    headers: z
      .record(headerName, z.union([z.string().max(4096), z.strictObject({ secret: secretName })]))
      .default({}),
    /** POST only: JSON fields sent along with canaryd's own (`rollout`). */
    body: z.record(z.string(), z.unknown()).optional(),
    timeoutSeconds: z.number().int().min(1).max(120).default(10),
    /** Extra attempts after a 5xx, a 429, a timeout or a lost connection, within the evaluation. */
    retries: z.number().int().min(0).max(5).default(2),
    /** Which value of the JSON answer is judged, and how. */
    answer: z
      .strictObject({
        /** RFC 6901 JSON pointer into the answer ("" is the whole answer). */
        pointer: z.string().regex(/^(\/.*)?$/, "a JSON pointer: empty or starting with '/'"),
        equals: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
        min: z.number().optional(),
        max: z.number().optional(),
      })
      .refine(
        (answer) => answer.equals !== undefined || answer.min !== undefined || answer.max !== undefined,
        {
          message: "an answer condition needs equals, min, max or a range",
          path: ["equals"],
        },
      ),
    onInconclusive,
  })
  .superRefine((gate, ctx) => {
    for (const [name, value] of Object.entries(gate.headers))
      if (typeof value === "string" && credentialHeader.test(name))
        ctx.addIssue({
          code: "custom",
          path: ["headers", name],
          message: `header ${name} carries a credential: name a secret ({ secret: name }) configured under gates.webhook.secrets`,
        });
    for (const name of Object.keys(gate.headers))
      if (reservedHeader.test(name))
        ctx.addIssue({
          code: "custom",
          path: ["headers", name],
          message: `header ${name} is set by canaryd`,
        });
    if (gate.body && "rollout" in gate.body)
      ctx.addIssue({ code: "custom", path: ["body", "rollout"], message: "rollout is canaryd's own field" });
    if (gate.body !== undefined && gate.method === "GET")
      ctx.addIssue({ code: "custom", path: ["body"], message: "a GET webhook sends no body" });
  });

export type WebhookGateSpec = z.output<typeof webhookGateSchema>;
