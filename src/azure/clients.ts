/**
 * The real SDK clients, built once and cached: one ComputeManagementClient per subscription, one
 * MetricsClient per region (the batch metrics API is regional) and one ResourceGraphClient (its
 * queries name their subscriptions in the body). Every client trusts the
 * extra CA from the access object and reports each HTTP attempt (retries included) to an
 * optional hook, so the API's metrics can count Azure calls and 429s by operation.
 */
import { Agent, request } from "node:https";
import { createSecureContext, rootCertificates } from "node:tls";
import { ComputeManagementClient } from "@azure/arm-compute";
import { ResourceGraphClient } from "@azure/arm-resourcegraph";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { LogsQueryClient } from "@azure/monitor-query-logs";
import { MetricsClient } from "@azure/monitor-query-metrics";
import { redactUrl } from "../logging/redact.ts";
import type { AzureAccess } from "./credentials.ts";
import { AzureAdapterError } from "./errors.ts";

export interface AzureCall {
  /** `METHOD resourceType/…/action`, e.g. `POST virtualMachineScaleSets/manualupgrade`; no names, no ids. */
  operation: string;
  method: string;
  /** HTTP status; 0 when no response arrived. */
  status: number;
  durationMs: number;
}

export type AzureCallHook = (call: AzureCall) => void;

export interface AzureClientsOptions {
  onAzureCall?: AzureCallHook;
}

export interface DownloadOptions {
  /** Bytes kept from the end of the body (a serial log's tail is what matters). */
  maxBytes: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface AzureClients {
  compute(subscriptionId: string): ComputeManagementClient;
  metrics(region: string): MetricsClient;
  /** Azure Resource Graph at the Resource Manager endpoint (same audience, same trust). */
  resourceGraph(): ResourceGraphClient;
  /** The Log Analytics query client (one for every workspace and resource). */
  logs(): LogsQueryClient;
  /** GET a URL over HTTPS with the same trust; errors name the URL without its query string. */
  download(url: string, options: DownloadOptions): Promise<string>;
}

export function createAzureClients(access: AzureAccess, options: AzureClientsOptions = {}): AzureClients {
  // Passing `ca` replaces Node's default trust store, so the public roots are added back. The
  // trust store is built once, into one keep-alive agent shared by every client and download: a
  // `ca` option per request makes Node fold the whole bundle (150+ roots) into the agent's pool
  // key on every request and parse every root certificate again for every new connection.
  const agent = access.ca
    ? new Agent({
        keepAlive: true,
        secureContext: createSecureContext({ ca: [...rootCertificates, access.ca] }),
      })
    : undefined;
  const tlsOptions = agent ? { agent } : {};
  const additionalPolicies = options.onAzureCall
    ? [{ policy: callCountingPolicy(options.onAzureCall), position: "perRetry" as const }]
    : [];
  const armScope = `${new URL(access.resourceManagerEndpoint).origin}/.default`;
  const computeClients = new Map<string, ComputeManagementClient>();
  const metricsClients = new Map<string, MetricsClient>();
  let resourceGraphClient: ResourceGraphClient | undefined;
  let logsClient: LogsQueryClient | undefined;

  return {
    compute(subscriptionId) {
      let client = computeClients.get(subscriptionId);
      if (!client) {
        client = new ComputeManagementClient(access.credential, subscriptionId, {
          endpoint: access.resourceManagerEndpoint,
          credentials: { scopes: [armScope] },
          additionalPolicies,
          ...tlsOptions,
        });
        computeClients.set(subscriptionId, client);
      }
      return client;
    },
    metrics(region) {
      const key = region.toLowerCase();
      let client = metricsClients.get(key);
      if (!client) {
        client = new MetricsClient(access.metricsEndpointFor(key), access.credential, {
          // The audience of a sovereign cloud (azure.metricsAudience); the SDK's default is public Azure's.
          credentials: { scopes: [`${access.metricsAudience}/.default`] },
          additionalPolicies,
          ...tlsOptions,
        });
        metricsClients.set(key, client);
      }
      return client;
    },
    resourceGraph() {
      resourceGraphClient ??= new ResourceGraphClient(access.credential, {
        endpoint: access.resourceManagerEndpoint,
        credentials: { scopes: [armScope] },
        additionalPolicies,
        ...tlsOptions,
      });
      return resourceGraphClient;
    },
    logs() {
      logsClient ??= new LogsQueryClient(access.credential, {
        // The SDK appends nothing to an explicit endpoint: the API version is part of the path.
        endpoint: `${access.logAnalyticsEndpoint}/v1`,
        credentials: { scopes: [`${access.logAnalyticsAudience}/.default`] },
        additionalPolicies,
        ...tlsOptions,
      });
      return logsClient;
    },
    download: (url, downloadOptions) => download(url, agent, downloadOptions),
  };
}

function callCountingPolicy(hook: AzureCallHook): PipelinePolicy {
  return {
    name: "canarydAzureCallCounter",
    async sendRequest(request, next) {
      const started = performance.now();
      const operation = operationName(request.method, request.url);
      const report = (status: number) => {
        try {
          hook({ operation, method: request.method, status, durationMs: performance.now() - started });
        } catch {
          // Counting must never break an Azure call.
        }
      };
      try {
        const response = await next(request);
        report(response.status);
        return response;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        report(typeof status === "number" ? status : 0);
        throw error;
      }
    },
  };
}

/**
 * `GET virtualMachineScaleSets/virtualMachines` for
 * `/subscriptions/…/providers/Microsoft.Compute/virtualMachineScaleSets/web-a/virtualMachines`:
 * resource types and actions only, so the label set stays small.
 */
export function operationName(method: string, url: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return `${method} unknown`;
  }
  const segments = path.split("/").filter(Boolean);
  const provider = segments.findIndex((segment) => segment.toLowerCase() === "providers");
  if (provider < 0) return `${method} ${segments.at(-1) ?? ""}`;
  const rest = segments.slice(provider + 2);
  return `${method} ${rest.filter((_, index) => index % 2 === 0).join("/")}`;
}

function download(url: string, agent: Agent | undefined, options: DownloadOptions): Promise<string> {
  const shown = redactUrl(url);
  return new Promise((resolvePromise, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      reject(new AzureAdapterError("DOWNLOAD_FAILED", `download of ${shown} failed: not a URL`));
      return;
    }
    if (parsed.protocol !== "https:") {
      reject(new AzureAdapterError("DOWNLOAD_FAILED", `download of ${shown} refused: not https`));
      return;
    }
    const fail = (message: string, transient: boolean, statusCode?: number) =>
      reject(
        new AzureAdapterError("DOWNLOAD_FAILED", `download of ${shown} failed: ${message}`, {
          transient,
          ...(statusCode === undefined ? {} : { statusCode }),
        }),
      );
    const req = request(parsed, {
      method: "GET",
      ...(agent ? { agent } : {}),
      timeout: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        res.resume();
        fail(`HTTP ${status}`, status >= 500 || status === 429, status);
        return;
      }
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        kept += chunk.length;
        while (kept - (chunks[0]?.length ?? 0) >= options.maxBytes && chunks.length > 1) {
          kept -= chunks.shift()?.length ?? 0;
        }
      });
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolvePromise(body.subarray(Math.max(0, body.length - options.maxBytes)).toString("utf8"));
      });
      res.on("error", (error) => fail(errorText(error), true));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on("error", (error) => fail(errorText(error), true));
    req.end();
  });
}

/** A Node error's code and message, with any URL in it cut to its path. */
function errorText(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error.message.replace(/https?:\/\/\S+/g, (found) => redactUrl(found));
  return code ? `${code}: ${message}` : message;
}
