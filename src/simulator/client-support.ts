/**
 * Pointing the real Azure SDK clients at the simulator: a static bearer-token credential and the
 * client options (endpoint, the simulator's CA through the pipeline's `tlsOptions`).
 */

export { StaticTokenCredential } from "../azure/credentials.ts";

/** Options for `new ComputeManagementClient(credential, subscriptionId, options)` and `new MetricsClient(url, credential, options)`. */
export function simulatorClientOptions(connection: { resourceManagerEndpoint: string; caCert: string }): {
  endpoint: string;
  tlsOptions: { ca: string };
} {
  return { endpoint: connection.resourceManagerEndpoint, tlsOptions: { ca: connection.caCert } };
}
