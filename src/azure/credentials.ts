/**
 * Where Azure is and how canaryd proves who it is. The same code reaches public Azure, a
 * sovereign cloud and the simulator: only this access object differs (endpoints, the metrics
 * token's audience, the Entra authority host). The token is never logged.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { DefaultAzureCredential } from "@azure/identity";
import { z } from "zod";
import type { ConfigInput } from "../config/schema.ts";
import { AzureAdapterError } from "./errors.ts";

export interface AzureAccess {
  credential: TokenCredential;
  /** e.g. https://management.azure.com */
  resourceManagerEndpoint: string;
  /** The regional Azure Monitor metrics endpoint (the batch API is regional). */
  metricsEndpointFor(region: string): string;
  /** Extra CA certificates (PEM) trusted besides the public ones: sovereign proxies, the simulator. */
  ca?: string;
  /** The subscription an emulator serves, when its connection file names one. */
  subscriptionId?: string;
  /** Audience the metrics token is requested for (azure.metricsAudience). */
  metricsAudience: string;
  /** The Log Analytics query API base, without `/v1` (azure.logAnalyticsEndpoint or the connection file's). */
  logAnalyticsEndpoint: string;
  /** Audience the Log Analytics token is requested for (azure.logAnalyticsAudience). */
  logAnalyticsAudience: string;
  /** Seconds the newest metric minutes may still be filling (the connection file's value wins). */
  metricsIngestionDelaySeconds?: number;
}

/** The simulator's connection file (see docs/simulator.md). */
const connectionFileSchema = z.object({
  resourceManagerEndpoint: z.url({ protocol: /^https$/ }),
  metricsEndpoint: z.string().regex(/^https:\/\//, "an https URL (may contain {region})"),
  logsEndpoint: z.string().optional(),
  /** The emulator's Log Analytics query API (logQuery gates); absent: azure.logAnalyticsEndpoint. */
  logAnalyticsEndpoint: z.url({ protocol: /^https$/ }).optional(),
  adminEndpoint: z.string().optional(),
  caCertFile: z.string().optional(),
  caCert: z.string().optional(),
  token: z.string().min(1),
  subscriptionId: z.string().optional(),
  /** How late this emulator's metrics arrive; overrides azure.metricsIngestionDelaySeconds. */
  metricsIngestionDelaySeconds: z.number().int().min(0).optional(),
});

/**
 * The simulator's credential: its connection-file token, bound to the audience of the scope asked
 * for as `<token>.<base64url(audience)>`, so the simulator can refuse a token meant for another
 * resource as Azure does (docs/simulator.md). The token itself is never logged.
 */
export class SimulatorTokenCredential implements TokenCredential {
  readonly #token: string;
  constructor(token: string) {
    this.#token = token;
  }
  async getToken(scopes: string | string[]): Promise<AccessToken> {
    const scope = (Array.isArray(scopes) ? scopes[0] : scopes) ?? "";
    const audience = scope.replace(/\/\.default$/, "");
    return {
      token: `${this.#token}.${Buffer.from(audience).toString("base64url")}`,
      expiresOnTimestamp: Date.now() + 3_600_000,
      tokenType: "Bearer",
    };
  }
  toJSON(): Record<string, string> {
    return { kind: "simulatorToken" };
  }
}

/** A credential that always answers with the same bearer token: for emulators only. */
export class StaticTokenCredential implements TokenCredential {
  readonly #token: string;
  constructor(token: string) {
    this.#token = token;
  }
  async getToken(): Promise<AccessToken> {
    return { token: this.#token, expiresOnTimestamp: Date.now() + 3_600_000, tokenType: "Bearer" };
  }
  toJSON(): Record<string, string> {
    return { kind: "staticToken" };
  }
}

export async function createAzureAccess(config: ConfigInput["azure"]): Promise<AzureAccess> {
  const access = withLogAnalytics(await accessWithoutDelay(config), config);
  const delay = access.metricsIngestionDelaySeconds ?? config.metricsIngestionDelaySeconds;
  return delay === undefined ? access : { ...access, metricsIngestionDelaySeconds: delay };
}

const publicLogAnalytics = "https://api.loganalytics.io";

/** The Log Analytics endpoint and audience: a connection file's endpoint wins over configuration. */
function withLogAnalytics(
  access: Omit<AzureAccess, "logAnalyticsEndpoint" | "logAnalyticsAudience"> & {
    logAnalyticsEndpoint?: string;
  },
  config: ConfigInput["azure"],
): AzureAccess {
  return {
    ...access,
    logAnalyticsEndpoint: (
      access.logAnalyticsEndpoint ??
      config.logAnalyticsEndpoint ??
      publicLogAnalytics
    ).replace(/\/+$/, ""),
    logAnalyticsAudience: (config.logAnalyticsAudience ?? publicLogAnalytics).replace(/\/+$/, ""),
  };
}

type PartialAccess = Omit<AzureAccess, "logAnalyticsEndpoint" | "logAnalyticsAudience"> & {
  logAnalyticsEndpoint?: string;
};

async function accessWithoutDelay(config: ConfigInput["azure"]): Promise<PartialAccess> {
  const extraCa = config.caBundleFile ? await readPem(config.caBundleFile) : undefined;
  switch (config.credential) {
    case "default":
      return access(
        new DefaultAzureCredential({ authorityHost: config.authorityHost }),
        config.resourceManagerEndpoint,
        config.metricsEndpoint,
        config.metricsAudience,
        extraCa,
      );
    case "staticToken": {
      if (!config.staticToken)
        throw new AzureAdapterError(
          "AZURE_CONFIG_INVALID",
          "azure.staticToken is required when azure.credential is staticToken",
        );
      return access(
        new StaticTokenCredential(config.staticToken),
        config.resourceManagerEndpoint,
        config.metricsEndpoint,
        config.metricsAudience,
        extraCa,
      );
    }
    case "connectionFile": {
      if (!config.connectionFile)
        throw new AzureAdapterError(
          "AZURE_CONFIG_INVALID",
          "azure.connectionFile is required when azure.credential is connectionFile",
        );
      return accessFromConnectionFile(config.connectionFile, config.metricsAudience, extraCa);
    }
  }
}

async function accessFromConnectionFile(
  path: string,
  metricsAudience: string,
  extraCa: string | undefined,
): Promise<PartialAccess> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new AzureAdapterError(
      "AZURE_CONNECTION_FILE_UNREADABLE",
      `cannot read connection file ${path}: ${(error as Error).message}`,
    );
  }
  const parsed = connectionFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
    throw new AzureAdapterError(
      "AZURE_CONNECTION_FILE_INVALID",
      `connection file ${path} is invalid: ${issues}`,
    );
  }
  const file = parsed.data;
  const fileCa =
    file.caCert ?? (file.caCertFile ? await readPem(resolve(dirname(path), file.caCertFile)) : undefined);
  const ca = [fileCa, extraCa].filter((pem): pem is string => pem !== undefined).join("\n") || undefined;
  const result = access(
    new SimulatorTokenCredential(file.token),
    file.resourceManagerEndpoint,
    file.metricsEndpoint,
    metricsAudience,
    ca,
  );
  return {
    ...result,
    ...(file.subscriptionId ? { subscriptionId: file.subscriptionId } : {}),
    ...(file.logAnalyticsEndpoint ? { logAnalyticsEndpoint: file.logAnalyticsEndpoint } : {}),
    ...(file.metricsIngestionDelaySeconds === undefined
      ? {}
      : { metricsIngestionDelaySeconds: file.metricsIngestionDelaySeconds }),
  };
}

function access(
  credential: TokenCredential,
  resourceManagerEndpoint: string,
  metricsEndpoint: string,
  metricsAudience: string,
  ca: string | undefined,
): PartialAccess {
  const result: PartialAccess = {
    credential,
    metricsAudience: metricsAudience.replace(/\/+$/, ""),
    resourceManagerEndpoint: resourceManagerEndpoint.replace(/\/+$/, ""),
    metricsEndpointFor: (region) =>
      metricsEndpoint.replaceAll("{region}", region.toLowerCase()).replace(/\/+$/, ""),
  };
  if (ca) result.ca = ca;
  return result;
}

async function readPem(path: string): Promise<string> {
  try {
    const pem = await readFile(path, "utf8");
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return pem;
  } catch (error) {
    throw new AzureAdapterError(
      "AZURE_CA_UNREADABLE",
      `cannot read CA bundle ${path}: ${(error as Error).message}`,
    );
  }
}
