/**
 * Serial console logs of scale set instances: `retrieveBootDiagnosticsData` hands out a SAS URL,
 * which is downloaded over HTTPS with the same trust as the SDK clients. The SAS query string is
 * a secret: it never appears in results, errors or logs (only the URL's path does).
 */

import { redactUrl } from "../logging/redact.ts";
import type { AzureClients } from "./clients.ts";
import { AzureAdapterError, wrapAzureError } from "./errors.ts";
import { scaleSetRef } from "./resource-id.ts";

export interface SerialLog {
  instanceId: string;
  /** The log's location without its query string. */
  source: string;
  /** The log's tail (at most `maxBytes`). */
  text: string;
}

export interface BootDiagnosticsAdapter {
  /** Throws AzureAdapterError (`BOOT_DIAGNOSTICS_UNAVAILABLE`, `DOWNLOAD_FAILED`, …) with the SAS redacted. */
  readSerialLog(scaleSetId: string, instanceId: string, signal?: AbortSignal): Promise<SerialLog>;
}

export interface BootDiagnosticsOptions {
  /** Tail of the log kept (default 1 MiB): panics and failed units show at the end of a boot. */
  maxBytes?: number;
  timeoutMs?: number;
}

export function createBootDiagnosticsAdapter(
  clients: AzureClients,
  options: BootDiagnosticsOptions = {},
): BootDiagnosticsAdapter {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    async readSerialLog(scaleSetId, instanceId, signal) {
      const ref = scaleSetRef(scaleSetId);
      let uri: string | undefined;
      try {
        const data = await clients
          .compute(ref.subscriptionId)
          .virtualMachineScaleSetVMs.retrieveBootDiagnosticsData(ref.resourceGroup, ref.name, instanceId, {
            sasUriExpirationTimeInMinutes: 10,
            ...(signal ? { abortSignal: signal } : {}),
          });
        uri = data.serialConsoleLogBlobUri;
      } catch (error) {
        throw wrapAzureError(`retrieving boot diagnostics of instance ${instanceId} of ${scaleSetId}`, error);
      }
      if (!uri)
        throw new AzureAdapterError(
          "BOOT_DIAGNOSTICS_UNAVAILABLE",
          `instance ${instanceId} of ${scaleSetId} has no serial console log (boot diagnostics off?)`,
        );
      const text = await clients.download(uri, { maxBytes, timeoutMs, ...(signal ? { signal } : {}) });
      return { instanceId, source: redactUrl(uri), text };
    },
  };
}
