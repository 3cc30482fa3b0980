/** The daemon's configuration: one schema, validated once at start. */
import { z } from "zod";
import { inventorySources } from "../domain/inventory.ts";
import { notificationsSchema } from "../notifications/config.ts";
import { freezesSchema, windowsSchema } from "../windows/schema.ts";

/** Platform metrics arrive one to three minutes late: the default gap kept out of verdicts. */
export const defaultMetricsIngestionDelaySeconds = 180;

const seconds = (min: number) => z.number().int().min(min);
/** `{tag}`: Redis Cluster hashes only the tag, so every key that starts with it shares one slot. */
const hashTagged = /^\{[^{}]+\}$/;

export const configSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65_535),
    bodyLimitBytes: z.number().int().min(1024),
    mutationsPerMinute: z.number().int().min(1),
  }),
  redis: z
    .strictObject({
      url: z
        .string()
        .regex(/^rediss?:\/\//, "a redis:// or rediss:// URL")
        .nullable(),
      clusterNodes: z.array(z.string().regex(/^\S+:\d{1,5}$/, "host:port")),
      keyPrefix: z
        .string()
        .min(1)
        .regex(/^[^:]+$/, "no ':' (BullMQ uses it as a separator)"),
      privateDataDir: z.string().min(1),
    })
    .refine((redis) => redis.clusterNodes.length === 0 || hashTagged.test(redis.keyPrefix), {
      path: ["keyPrefix"],
      message:
        "must be a Redis Cluster hash tag such as {canaryd} when redis.clusterNodes is set: " +
        "every script and queue job uses several keys, which must share one slot",
    }),
  azure: z.strictObject({
    credential: z.enum(["default", "connectionFile", "staticToken"]),
    connectionFile: z.string().min(1).nullable(),
    resourceManagerEndpoint: z.url({ protocol: /^https$/ }),
    metricsEndpoint: z.string().regex(/^https:\/\/.*\{region\}/, "an https URL template containing {region}"),
    caBundleFile: z.string().min(1).nullable(),
    staticToken: z.string().min(1).nullable(),
    /** Audience of the metrics token: a sovereign cloud's Azure Monitor metrics resource. */
    metricsAudience: z.url({ protocol: /^https$/ }),
    /** Log Analytics query API (logQuery gates): public Azure's, or a sovereign cloud's. */
    logAnalyticsEndpoint: z.url({ protocol: /^https$/ }).default("https://api.loganalytics.io"),
    /** Audience of the Log Analytics token (Azure US Government: https://api.loganalytics.us). */
    logAnalyticsAudience: z.url({ protocol: /^https$/ }).default("https://api.loganalytics.io"),
    /** Microsoft Entra authority DefaultAzureCredential signs in at (a sovereign cloud's login host). */
    authorityHost: z.url({ protocol: /^https$/ }),
    /**
     * Seconds the newest Azure Monitor minutes may still be filling: kept out of every verdict.
     * A simulator's connection file may carry its own `metricsIngestionDelaySeconds`, which wins.
     */
    metricsIngestionDelaySeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(defaultMetricsIngestionDelaySeconds),
  }),
  auth: z.strictObject({
    disabled: z.boolean(),
    tokens: z.array(
      z.strictObject({
        name: z.string().min(1),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex characters"),
        role: z.enum(["viewer", "deployer", "oncall"]),
      }),
    ),
  }),
  engine: z.strictObject({
    workerConcurrency: z.number().int().min(1).max(256),
    /** BullMQ queues the effects queue is split into (src/engine/queue/queue-shards.ts); 1 = one queue, the layout before shards. */
    queueShards: z.number().int().min(1).max(64).default(1),
    maxParallelScaleSets: z.number().int().min(1).max(50),
    pollIntervalSeconds: z.number().min(0),
    gateRetrySeconds: z.number().min(0),
    inconclusiveTimeoutSeconds: seconds(0),
    replicationPollSeconds: z.number().min(0),
    replicationTimeoutSeconds: seconds(0),
    upgradeTimeoutSeconds: seconds(1),
    rollbackPersistSeconds: seconds(0),
    rollbackRetrySeconds: z.number().min(0.01),
    effectAttempts: z.number().int().min(1).max(50),
    retryBackoffSeconds: z.number().min(0),
    retryBackoffMaxSeconds: z.number().min(0),
    jobLockSeconds: z.number().min(1),
    stalledCheckSeconds: z.number().min(0.1),
    recoverySweepSeconds: z.number().min(0.1),
    stepLockSeconds: z.number().min(1),
    allowLatestFor: z.array(z.string().min(1)),
  }),
  /** Operator settings of the gate kinds (src/gates/provider.ts GateSettings; docs/gates.md). */
  gates: z
    .strictObject({
      webhook: z
        .strictObject({
          /**
           * Hosts (`name` or `name:port`) webhook gates may call; link-local and metadata
           * addresses are refused whatever this says, loopback unless listed as a literal.
           */
          allowedHosts: z.array(z.string().min(1).max(261)).default([]),
          /** Values webhook headers name as `{ secret: name }`; never logged, never in evidence. */
          secrets: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), z.string().min(1)).default({}),
          /** Extra CA certificates (PEM) trusted for https webhooks, beside Node's own. */
          caBundleFile: z.string().min(1).nullable().default(null),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Notification services, subscriptions and delivery (docs/notifications.md). */
  notifications: notificationsSchema.prefault({}),
  /** GET /v1/inventory: which scale sets, how fresh. */
  inventory: z
    .strictObject({
      /** Scopes read when the request names none: a subscription, or one resource group of it. */
      scopes: z
        .array(
          z.strictObject({ subscriptionId: z.string().min(1), resourceGroup: z.string().min(1).optional() }),
        )
        .default([]),
      /** An answer per scope is reused this long; `?refresh=true` reads again. */
      cacheSeconds: z.number().int().min(0).max(86_400).default(60),
      /** Scale sets whose instances are listed at the same time (and scopes read at once). */
      concurrency: z.number().int().min(1).max(64).default(8),
      /** Where scale sets and instances are read: Resource Manager listings or Azure Resource Graph. */
      source: z.enum(inventorySources).default("arm"),
      resourceGraph: z
        .strictObject({
          /** A spent Resource Graph quota is waited out when it resets within this; else the read fails. */
          maxQuotaWaitSeconds: z.number().int().min(0).max(300).default(10),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Production image policy: approved versions, end-of-life warnings. */
  policy: z
    .strictObject({
      /** A version this close to its end of life is a warning (inventory, preflight). */
      eolWarningDays: z.number().int().min(0).max(3650).default(30),
      /**
       * A scale set matching either (an id glob, or every tag given) takes only approved versions
       * (POST /v1/approvals) unless the spec carries an `exception`.
       */
      requireApproval: z
        .strictObject({
          scaleSets: z.array(z.string().min(1)).default([]),
          tags: z.record(z.string().min(1), z.string()).default({}),
        })
        .prefault({}),
    })
    .prefault({}),
  /** What stays of a finished rollout, and for how long (src/engine/store/retention.ts; docs/records.md). */
  retention: z
    .strictObject({
      /** A completed, rolled-back or rejected rollout's working state is compacted this long after it ended. */
      compactAfterSeconds: z
        .number({ error: "a whole number of seconds, at least 1" })
        .int("a whole number of seconds, at least 1")
        .positive("a whole number of seconds, at least 1")
        .default(86_400),
      /** Its release record (and summary) stays this many days after it ended, then is deleted. */
      recordDays: z
        .number({ error: "a whole number of days, at least 1" })
        .int("a whole number of days, at least 1")
        .positive("a whole number of days, at least 1")
        .default(400),
    })
    .prefault({}),
  /** Change windows: when a wave may start (src/windows/, docs/windows.md). */
  windows: windowsSchema,
  /** One-off freezes: no wave starts between start and end. */
  freezes: freezesSchema,
  log: z.strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]),
    format: z.enum(["auto", "json", "pretty"]),
  }),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type Role = Config["auth"]["tokens"][number]["role"];
