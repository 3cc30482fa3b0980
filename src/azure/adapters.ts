/** Everything canaryd asks of Azure, built from one access object: what the engine and gates depend on. */
import {
  type BootDiagnosticsAdapter,
  type BootDiagnosticsOptions,
  createBootDiagnosticsAdapter,
} from "./boot-diagnostics.ts";
import { type AzureClientsOptions, createAzureClients } from "./clients.ts";
import { type ComputeAdapter, createComputeAdapter } from "./compute.ts";
import type { AzureAccess } from "./credentials.ts";
import { createGalleryAdapter, type GalleryAdapter } from "./gallery.ts";
import { createLogsAdapter, type LogsAdapter } from "./logs.ts";
import { createMarketplaceAdapter, type MarketplaceAdapter } from "./marketplace.ts";
import { createMetricsAdapter, type MetricsAdapter } from "./metrics.ts";

export interface AzureAdapters {
  compute: ComputeAdapter;
  gallery: GalleryAdapter;
  marketplace: MarketplaceAdapter;
  metrics: MetricsAdapter;
  bootDiagnostics: BootDiagnosticsAdapter;
  logs: LogsAdapter;
}

export interface AzureAdaptersOptions extends AzureClientsOptions {
  bootDiagnostics?: BootDiagnosticsOptions;
}

export function createAzureAdapters(access: AzureAccess, options: AzureAdaptersOptions = {}): AzureAdapters {
  const clients = createAzureClients(access, options.onAzureCall ? { onAzureCall: options.onAzureCall } : {});
  return {
    compute: createComputeAdapter(clients),
    gallery: createGalleryAdapter(clients),
    marketplace: createMarketplaceAdapter(clients),
    metrics: createMetricsAdapter(
      clients,
      access.metricsIngestionDelaySeconds === undefined
        ? {}
        : { ingestionDelaySeconds: access.metricsIngestionDelaySeconds },
    ),
    bootDiagnostics: createBootDiagnosticsAdapter(clients, options.bootDiagnostics),
    logs: createLogsAdapter(clients),
  };
}
