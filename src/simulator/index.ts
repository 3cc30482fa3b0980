/**
 * The Azure fleet simulator: ARM (Microsoft.Compute) and Azure Monitor metrics over HTTPS, driven
 * by a scenario, with faults switchable at run time. Reached through the real Azure SDK clients;
 * see docs/simulator.md.
 */
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { ensureCertificates } from "./certificates.ts";
import { SimClock } from "./clock.ts";
import { createFaultControls } from "./fault-controls.ts";
import type { FaultSpec } from "./faults.ts";
import { FaultController } from "./faults.ts";
import { Fleet, resolveImage } from "./fleet.ts";
import { foreignModelWrite, repairInstance, scaleOut } from "./fleet-ops.ts";
import type { RequestLogEntry, RequestLogFilter } from "./request-log.ts";
import { RequestLog } from "./request-log.ts";
import type { SimContext } from "./router.ts";
import { instanceImages } from "./routes/admin.ts";
import { SIM_WORKSPACE_ID } from "./routes/logs.ts";
import { ResourceGraphQuota } from "./routes/resource-graph.ts";
import type { Scenario, ScenarioEventInput, ScenarioImage } from "./scenario.ts";
import { loadScenarioFile, parseScenario } from "./scenario.ts";
import type { ScenarioEventStatus } from "./scenario-events.ts";
import { ScenarioEvents } from "./scenario-events.ts";
import { createSimulatorServer } from "./server.ts";
import type { SimState } from "./state.ts";
import { metricsModelOf, readStateFile, StateWriter, stateFromScenario } from "./state.ts";

export { StaticTokenCredential, simulatorClientOptions } from "./client-support.ts";
export type { FaultSpec } from "./faults.ts";
export type { RequestLogEntry, RequestLogFilter } from "./request-log.ts";
export type { Scenario, ScenarioEventInput, ScenarioImage } from "./scenario.ts";
export { loadScenarioFile, parseScenario } from "./scenario.ts";
export type { ScenarioEventStatus } from "./scenario-events.ts";

export interface SimulatorOptions {
  /** A parsed scenario object or the path of a scenario YAML file. */
  scenario: Scenario | string;
  host?: string;
  /** The name clients use to reach the simulator (e.g. a compose service name): it goes into the
   * connection file's endpoints and the server certificate. Defaults to the listening host. */
  publicHost?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Simulated seconds per wall-clock second (60: one Azure minute per second). */
  timeScale?: number;
  /** Keep the fleet's state here; a restart with it continues where it was. */
  stateFile?: string;
  /** Ignore an existing state file and start from the scenario. */
  fresh?: boolean;
  /** Where to write the connection JSON. */
  connectionFile?: string;
  /** `Retry-After` seconds sent with LROs (0 for benchmarks). */
  lroRetryAfterSeconds?: number;
  /** Where the generated CA and server certificate go (default: next to the connection file, or var/). */
  certDir?: string;
  /** VMs per page of a VM list (ARM pages; small values make tests exercise `nextLink`). */
  vmListPageSize?: number;
  /** Resource Graph rows per page (default 1000, Azure's most; small values make tests page). */
  resourceGraphPageSize?: number;
  /** Resource Graph's per-user quota: `limit` queries per `windowSeconds` (default 15 per 5 s, as Azure's). */
  resourceGraphQuota?: { limit: number; windowSeconds: number };
  /** Overrides the scenario's `seed` (metric noise). */
  seed?: number | string;
  /** Overrides the scenario's `metrics.ingestionDelaySeconds` (tests use 0). */
  metricsIngestionDelaySeconds?: number;
  /** The wall clock the simulator reads (default Date.now): tests move time with it. */
  now?: () => number;
  /** Audience a bound metrics token must name (default public Azure's); a sovereign cloud's to test one. */
  metricsAudience?: string;
  /** Audience a bound Log Analytics token must name (default public Azure's https://api.loganalytics.io). */
  logAnalyticsAudience?: string;
}

/** The connection file's JSON: everything a client needs to reach the simulator. */
export interface SimulatorConnection {
  resourceManagerEndpoint: string;
  /** Regional batch metrics endpoint template: replace `{region}` with a short region name. */
  metricsEndpoint: string;
  /** Base of the boot diagnostics blobs the SAS URIs point at. */
  logsEndpoint: string;
  /** The Log Analytics query API (logQuery gates); the SDK's endpoint is this plus `/v1`. */
  logAnalyticsEndpoint: string;
  /** The simulated Log Analytics workspace every scale set reports to. */
  logAnalyticsWorkspaceId: string;
  adminEndpoint: string;
  caCertFile: string;
  caCert: string;
  token: string;
  subscriptionId: string;
  /** Simulated seconds before a minute's metric samples can be read (the newest minutes are absent). */
  metricsIngestionDelaySeconds: number;
}

export interface InstanceImage {
  instanceId: string;
  imageReference: {
    id?: string;
    publisher?: string;
    offer?: string;
    sku?: string;
    version?: string;
    exactVersion?: string;
  };
  version: string | undefined;
  provisioningState: string;
  latestModelApplied: boolean;
}

export interface RunningSimulator {
  connection: SimulatorConnection;
  close(): Promise<void>;
  /** Requests answered, oldest first; filter by operation, method, scale set (name or id), wall or simulated time. */
  requestLog(filter?: RequestLogFilter): RequestLogEntry[];
  clearRequestLog(): void;
  instanceImages(scaleSetId: string): InstanceImage[];
  addFault(spec: FaultSpec): { id: string };
  removeFault(id: string): boolean;
  clearFaults(): void;
  listFaults(): unknown[];
  /** Releases requests held by a hold fault (all holds when omitted); returns how many. */
  release(faultId?: string): number;
  held(operation?: string): { faultId: string; operation: string }[];
  /** Resolves once `count` requests to `operation` (any when omitted) are being held. */
  waitForHeld(operation?: string, count?: number): Promise<void>;
  /** Simulated milliseconds since the scenario was loaded. */
  simulatedMs(): number;
  // --- rollback convergence (fleet-ops.ts): the same operations as /admin/scalesets/{name}/… ---
  /** Adds `count` instances built from the scale set's current model, with new (higher) instance ids. */
  scaleOut(scaleSet: string, count: number): { scaleSetId: string; instanceIds: string[]; capacity: number };
  /** Automatic repair (Replace): deletes the instance, creates one from the current model with a new id. */
  repairInstance(
    scaleSet: string,
    instanceId: string,
  ): { scaleSetId: string; removedInstanceId: string; instanceId: string };
  /** Another actor's completed PUT/PATCH of the model's image: the model and etag change, instances do not. */
  foreignModelWrite(
    scaleSet: string,
    image: ScenarioImage,
  ): { scaleSetId: string; etag: string; imageReference: InstanceImage["imageReference"] };
  /** Every ARM call answers 503 ServiceUnavailable with Retry-After for `simulatedSeconds`; returns the fault id. */
  armOutage(options: { simulatedSeconds: number; retryAfterSeconds?: number; metrics?: boolean }): {
    id: string;
  };
  /** Sets Resource Graph's quota (limit 0: every query answers 429); starts a new window. */
  setResourceGraphQuota(quota: { limit: number; windowSeconds: number }): void;
  /** The scenario's events with their state (pending, triggered, fired, failed). */
  events(): ScenarioEventStatus[];
  /** Adds an event at run time (the scenario's `events` schema; `at` counts from the scenario's start). */
  addEvent(event: ScenarioEventInput): ScenarioEventStatus;
  /** An instance's version history, oldest first (version null: down); undefined if unknown. */
  versionHistory(
    scaleSetId: string,
    instanceId: string,
  ): { from: string; version: string | null }[] | undefined;
}

async function loadOrCreateToken(dir: string): Promise<string> {
  const file = join(dir, "token");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  const token = `sim-${randomBytes(24).toString("base64url")}`;
  await writeFile(file, token, { mode: 0o600 });
  return token;
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

export async function startSimulator(options: SimulatorOptions): Promise<RunningSimulator> {
  const host = options.host ?? "127.0.0.1";
  const timeScale = options.timeScale ?? 1;
  const certDir =
    options.certDir ??
    (options.connectionFile
      ? join(dirname(options.connectionFile), "simulator-certs")
      : join("var", "simulator-certs"));
  const scenario =
    typeof options.scenario === "string"
      ? await loadScenarioFile(options.scenario)
      : parseScenario(options.scenario);
  const publicHost = options.publicHost ?? host;
  const certificates = await ensureCertificates(certDir, publicHost);
  const token = await loadOrCreateToken(certDir);
  const sasKey = createHmac("sha256", token).update("boot-diagnostics-sas").digest();

  const restored = options.stateFile && !options.fresh ? await readStateFile(options.stateFile) : undefined;
  const state: SimState = restored ?? stateFromScenario(scenario, (options.now ?? Date.now)(), resolveImage);
  state.metricsModel ??= metricsModelOf(scenario);
  if (options.seed !== undefined) state.metricsModel.seed = options.seed;
  if (options.metricsIngestionDelaySeconds !== undefined)
    state.metricsModel.ingestionDelaySeconds = options.metricsIngestionDelaySeconds;
  const clock = new SimClock({
    timeScale,
    startSimMs: state.simMs,
    ...(options.now ? { now: options.now } : {}),
  });
  const fleet = new Fleet(state, clock);
  const faults = new FaultController(Date.now, timeScale);
  const log = new RequestLog();
  const writer = options.stateFile
    ? new StateWriter(options.stateFile, () => {
        state.simMs = clock.simNow();
        return state;
      })
    : undefined;
  if (writer && options.stateFile) {
    await mkdir(dirname(options.stateFile), { recursive: true });
    await writer.flush();
  }

  const controls = createFaultControls(fleet, faults, () => writer?.schedule());

  let baseUrl = "";
  const ctx: SimContext = {
    fleet,
    faults,
    log,
    get baseUrl() {
      return baseUrl;
    },
    lroRetryAfterSeconds: options.lroRetryAfterSeconds ?? 1,
    vmListPageSize: options.vmListPageSize ?? 100,
    resourceGraph: {
      pageSize: options.resourceGraphPageSize ?? 1000,
      quota: new ResourceGraphQuota(options.resourceGraphQuota ?? { limit: 15, windowSeconds: 5 }, () =>
        clock.wallNow(),
      ),
    },
    signBlob: (path, expiresAtMs) =>
      createHmac("sha256", sasKey)
        .update(`${path}\n${new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, "Z")}`)
        .digest("base64"),
    changed: () => writer?.schedule(),
    admin: controls,
  };

  const scenarioEvents = new ScenarioEvents(
    scenario.events,
    ctx,
    clock,
    (spec) => controls.addFault(spec),
    restored?.simMs ?? 0,
  );
  ctx.scenarioEvents = scenarioEvents;

  const server = createSimulatorServer(
    ctx,
    certificates,
    token,
    options.metricsAudience,
    options.logAnalyticsAudience,
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `https://${urlHost(publicHost)}:${port}`;
  scenarioEvents.start();

  const connection: SimulatorConnection = {
    resourceManagerEndpoint: baseUrl,
    metricsEndpoint: `${baseUrl}/metrics/{region}`,
    logsEndpoint: `${baseUrl}/bootdiagnostics`,
    logAnalyticsEndpoint: `${baseUrl}/loganalytics`,
    logAnalyticsWorkspaceId: SIM_WORKSPACE_ID,
    adminEndpoint: `${baseUrl}/admin`,
    caCertFile: certificates.caCertFile,
    caCert: certificates.caCert,
    token,
    subscriptionId: state.subscriptionId,
    metricsIngestionDelaySeconds: state.metricsModel.ingestionDelaySeconds,
  };
  if (options.connectionFile) {
    await mkdir(dirname(options.connectionFile), { recursive: true });
    await writeFile(options.connectionFile, `${JSON.stringify(connection, null, 2)}\n`, { mode: 0o600 });
  }

  return {
    connection,
    async close() {
      scenarioEvents.close();
      faults.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (fleet.settle()) writer?.schedule();
      await writer?.flush();
    },
    requestLog: (filter) => log.entries(filter),
    clearRequestLog: () => log.clear(),
    instanceImages: (scaleSetId) => instanceImages(ctx, scaleSetId) as InstanceImage[],
    addFault: (spec) => controls.addFault(spec),
    removeFault: (id) => controls.removeFault(id),
    clearFaults: () => controls.clearFaults(),
    listFaults: () => controls.listFaults(),
    release: (faultId) => faults.release(faultId),
    held: (operation) => faults.held(operation),
    waitForHeld: (operation, count) => faults.waitForHeld(operation, count),
    simulatedMs: () => clock.simNow(),
    scaleOut: (scaleSet, count) => scaleOut(ctx, scaleSet, count),
    repairInstance: (scaleSet, instanceId) => repairInstance(ctx, scaleSet, instanceId),
    foreignModelWrite: (scaleSet, image) => foreignModelWrite(ctx, scaleSet, image),
    armOutage: (options) => controls.addFault({ kind: "armOutage", ...options }),
    setResourceGraphQuota: (quota) => ctx.resourceGraph.quota.set(quota),
    events: () => scenarioEvents.list(),
    addEvent: (event) => scenarioEvents.add(event),
    versionHistory: (scaleSetId, instanceId) => {
      const instance = fleet.scaleSet(scaleSetId)?.instances.find((i) => i.instanceId === instanceId);
      return instance && fleet.versionHistory(instance);
    },
  };
}
