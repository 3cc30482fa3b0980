/**
 * Environment variables that override configuration keys. One table: the loader applies it and
 * the README's configuration table is checked against it by a test.
 */
export interface EnvironmentBinding {
  variable: string;
  /** Dotted configuration key, e.g. `server.port`. */
  key: string;
  parse: (raw: string) => unknown;
  secret?: boolean;
}

const text = (raw: string) => raw;
const nullableText = (raw: string) => (raw === "" ? null : raw);
const integer = (raw: string) => (/^-?\d+$/.test(raw.trim()) ? Number(raw) : raw);
const boolean = (raw: string) => {
  const value = raw.trim().toLowerCase();
  if (["true", "1", "yes"].includes(value)) return true;
  if (["false", "0", "no"].includes(value)) return false;
  return raw;
};
const list = (raw: string) =>
  raw
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
/** `name=value` entries separated by commas (a value may hold '=' but no ','). */
const namedValues = (raw: string) =>
  Object.fromEntries(
    list(raw).map((entry) => {
      const at = entry.indexOf("=");
      return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
/** `name:role:sha256` entries separated by commas. */
const tokenList = (raw: string) =>
  list(raw).map((entry) => {
    const [name, role, sha256] = entry.split(":");
    return { name, role, sha256 };
  });

export const environmentBindings: readonly EnvironmentBinding[] = [
  { variable: "HOST", key: "server.host", parse: text },
  { variable: "PORT", key: "server.port", parse: integer },
  { variable: "REDIS_URL", key: "redis.url", parse: nullableText, secret: true },
  { variable: "CANARYD_REDIS_CLUSTER_NODES", key: "redis.clusterNodes", parse: list },
  { variable: "CANARYD_REDIS_KEY_PREFIX", key: "redis.keyPrefix", parse: text },
  { variable: "CANARYD_AZURE_CREDENTIAL", key: "azure.credential", parse: text },
  { variable: "CANARYD_AZURE_CONNECTION_FILE", key: "azure.connectionFile", parse: nullableText },
  { variable: "CANARYD_AZURE_RESOURCE_MANAGER_ENDPOINT", key: "azure.resourceManagerEndpoint", parse: text },
  { variable: "CANARYD_AZURE_METRICS_ENDPOINT", key: "azure.metricsEndpoint", parse: text },
  { variable: "CANARYD_AZURE_CA_BUNDLE_FILE", key: "azure.caBundleFile", parse: nullableText },
  {
    variable: "CANARYD_AZURE_METRICS_INGESTION_DELAY_SECONDS",
    key: "azure.metricsIngestionDelaySeconds",
    parse: integer,
  },
  { variable: "CANARYD_AZURE_STATIC_TOKEN", key: "azure.staticToken", parse: nullableText, secret: true },
  { variable: "CANARYD_AZURE_METRICS_AUDIENCE", key: "azure.metricsAudience", parse: text },
  { variable: "CANARYD_AZURE_AUTHORITY_HOST", key: "azure.authorityHost", parse: text },
  { variable: "CANARYD_AZURE_LOG_ANALYTICS_ENDPOINT", key: "azure.logAnalyticsEndpoint", parse: text },
  { variable: "CANARYD_AZURE_LOG_ANALYTICS_AUDIENCE", key: "azure.logAnalyticsAudience", parse: text },
  { variable: "CANARYD_AUTH_DISABLED", key: "auth.disabled", parse: boolean },
  { variable: "CANARYD_API_TOKENS", key: "auth.tokens", parse: tokenList },
  { variable: "CANARYD_WORKER_CONCURRENCY", key: "engine.workerConcurrency", parse: integer },
  { variable: "CANARYD_QUEUE_SHARDS", key: "engine.queueShards", parse: integer },
  { variable: "CANARYD_ALLOW_LATEST_FOR", key: "engine.allowLatestFor", parse: list },
  { variable: "CANARYD_WEBHOOK_ALLOWED_HOSTS", key: "gates.webhook.allowedHosts", parse: list },
  { variable: "CANARYD_WEBHOOK_SECRETS", key: "gates.webhook.secrets", parse: namedValues, secret: true },
  {
    variable: "CANARYD_NOTIFICATION_SECRETS",
    key: "notifications.secrets",
    parse: namedValues,
    secret: true,
  },
  { variable: "CANARYD_NOTIFICATION_ALLOWED_HOSTS", key: "notifications.allowedHosts", parse: list },
  { variable: "CANARYD_LOG_LEVEL", key: "log.level", parse: text },
  { variable: "CANARYD_LOG_FORMAT", key: "log.format", parse: text },
];
