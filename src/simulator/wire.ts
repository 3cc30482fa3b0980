/**
 * Resources rendered as ARM's wire JSON (nested under `properties`; the SDK flattens), following the
 * example payloads in Azure/azure-rest-api-specs (Microsoft.Compute ComputeRP and GalleryRP).
 */
import type { Fleet } from "./fleet.ts";
import { regionDisplayName } from "./fleet.ts";
import { etagOf } from "./fleet-ops.ts";
import type { GalleryImageState, GalleryVersionState, InstanceState, ScaleSetState } from "./state.ts";

const HEALTH_EXTENSION = "HealthExtension";
const iso = (ms: number) => new Date(ms).toISOString();

function status(code: string, displayStatus: string, level = "Info", time?: number, message?: string) {
  return {
    code,
    level,
    displayStatus,
    ...(message ? { message } : {}),
    ...(time !== undefined ? { time: iso(time) } : {}),
  };
}

export function vmName(ss: ScaleSetState, instance: InstanceState): string {
  return `${ss.name}_${instance.instanceId}`;
}

export function computerName(ss: ScaleSetState, instance: InstanceState): string {
  return `${ss.name}${Number.parseInt(instance.instanceId, 10).toString(36).padStart(6, "0")}`;
}

function osDisk(ss: ScaleSetState) {
  return {
    osType: "Linux",
    createOption: "FromImage",
    caching: "ReadWrite",
    managedDisk: { storageAccountType: "Premium_LRS" },
    diskSizeGB: 30,
    name: `${ss.name}_OsDisk`,
  };
}

export function scaleSetJson(fleet: Fleet, ss: ScaleSetState) {
  const busy = fleet.activeOperation(ss);
  return {
    name: ss.name,
    id: ss.id,
    type: "Microsoft.Compute/virtualMachineScaleSets",
    etag: etagOf(ss),
    location: ss.location,
    tags: ss.tags,
    sku: { name: ss.sku, tier: "Standard", capacity: ss.instances.length },
    ...(ss.zones.length > 0 ? { zones: ss.zones } : {}),
    properties: {
      singlePlacementGroup: true,
      orchestrationMode: ss.orchestrationMode,
      upgradePolicy: { mode: ss.upgradePolicy },
      virtualMachineProfile: {
        osProfile: {
          computerNamePrefix: ss.name,
          adminUsername: "azureuser",
          linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true },
        },
        storageProfile: { imageReference: ss.image, osDisk: osDisk(ss) },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
        extensionProfile: {
          extensions: [
            {
              name: HEALTH_EXTENSION,
              properties: {
                publisher: "Microsoft.ManagedServices",
                type: "ApplicationHealthLinux",
                typeHandlerVersion: "2.0",
                autoUpgradeMinorVersion: true,
                settings: { protocol: "http", port: 80, requestPath: "/health" },
              },
            },
          ],
        },
      },
      provisioningState:
        busy?.kind === "modelUpdate" || busy?.kind === "create"
          ? "Updating"
          : fleet.lastModelWriteFailed(ss)
            ? "Failed"
            : "Succeeded",
      overprovision: false,
      doNotRunExtensionsOnOverprovisionedVMs: false,
      uniqueId: ss.uniqueId,
      timeCreated: ss.timeCreated,
    },
  };
}

function healthCode(
  fleet: Fleet,
  instance: InstanceState,
): "healthy" | "unhealthy" | "unknown" | "initializing" {
  if (instance.provisioningState === "Updating" || instance.provisioningState === "Creating")
    return "initializing";
  if (instance.provisioningState === "Failed") return "unknown";
  return fleet.behaviourOfInstance(instance)?.health ?? "unknown";
}

export function vmInstanceViewJson(fleet: Fleet, ss: ScaleSetState, instance: InstanceState) {
  const booted = instance.bootedAtWallMs;
  const behaviour = fleet.behaviourOfInstance(instance);
  const health = healthCode(fleet, instance);
  const agentReady =
    instance.provisioningState === "Succeeded" &&
    behaviour !== undefined &&
    (behaviour.boot === "clean" || behaviour.boot === "failedUnit" || behaviour.boot === "cloudInitError");
  const provisioning =
    instance.provisioningState === "Failed"
      ? status(
          `ProvisioningState/failed/${instance.errorCode ?? "VMProvisioningFailed"}`,
          "Provisioning failed",
          "Error",
          booted,
          `Provisioning of ${vmName(ss, instance)} failed: ${instance.errorCode}.`,
        )
      : instance.provisioningState === "Succeeded"
        ? status("ProvisioningState/succeeded", "Provisioning succeeded", "Info", booted)
        : status("ProvisioningState/updating", "Updating", "Info", fleet.clock.wallNow());
  const power =
    instance.provisioningState === "Succeeded"
      ? status("PowerState/running", "VM running")
      : instance.provisioningState === "Failed"
        ? status("PowerState/stopped", "VM stopped")
        : status("PowerState/starting", "VM starting");
  return {
    platformUpdateDomain: 0,
    platformFaultDomain: 0,
    computerName: computerName(ss, instance),
    osName: "ubuntu",
    osVersion: "24.04",
    vmAgent: {
      vmAgentVersion: agentReady ? "2.11.1.4" : "Unknown",
      statuses: [
        agentReady
          ? status("ProvisioningState/succeeded", "Ready", "Info", booted, "Guest Agent is running")
          : status(
              "ProvisioningState/Unavailable",
              "Not Ready",
              "Warning",
              booted,
              "VM status blob is found but not yet populated.",
            ),
      ],
    },
    disks: [
      {
        name: `${ss.name}_${instance.instanceId}_OsDisk`,
        statuses: [status("ProvisioningState/succeeded", "Provisioning succeeded", "Info", booted)],
      },
    ],
    extensions: [
      {
        name: HEALTH_EXTENSION,
        type: "Microsoft.ManagedServices.ApplicationHealthLinux",
        typeHandlerVersion: "2.0.11",
        statuses:
          health === "initializing"
            ? [status("ProvisioningState/transitioning", "Transitioning", "Info")]
            : [
                status(
                  "ProvisioningState/succeeded",
                  "Provisioning succeeded",
                  "Info",
                  undefined,
                  `Application health: ${health}`,
                ),
              ],
      },
    ],
    vmHealth: {
      status: status(
        `HealthState/${health}`,
        health === "healthy"
          ? "The VM is healthy"
          : health === "unhealthy"
            ? "The VM is unhealthy"
            : health === "initializing"
              ? "The VM health is initializing"
              : "The VM health is unknown",
        health === "unhealthy" ? "Warning" : "Info",
        fleet.clock.wallNow(),
      ),
    },
    statuses: [provisioning, power],
  };
}

export function vmJson(
  fleet: Fleet,
  ss: ScaleSetState,
  instance: InstanceState,
  expandInstanceView: boolean,
) {
  return {
    name: vmName(ss, instance),
    id: `${ss.id}/virtualMachines/${instance.instanceId}`,
    type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
    location: ss.location,
    tags: ss.tags,
    instanceId: instance.instanceId,
    sku: { name: ss.sku, tier: "Standard" },
    ...(instance.zone ? { zones: [instance.zone] } : {}),
    properties: {
      latestModelApplied: fleet.latestModelApplied(ss, instance),
      vmId: instance.vmId,
      hardwareProfile: { vmSize: ss.sku },
      storageProfile: { imageReference: instance.pendingImage ?? instance.image, osDisk: osDisk(ss) },
      osProfile: { computerName: computerName(ss, instance), adminUsername: "azureuser" },
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      protectionPolicy: {
        protectFromScaleIn: instance.protectedFromScaleSetActions,
        protectFromScaleSetActions: instance.protectedFromScaleSetActions,
      },
      provisioningState: instance.provisioningState,
      timeCreated: ss.timeCreated,
      ...(expandInstanceView ? { instanceView: vmInstanceViewJson(fleet, ss, instance) } : {}),
    },
  };
}

export function scaleSetInstanceViewJson(fleet: Fleet, ss: ScaleSetState) {
  const counts = new Map<string, number>();
  for (const instance of ss.instances) {
    const code = `ProvisioningState/${instance.provisioningState.toLowerCase()}`;
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  const summary = [...counts].map(([code, count]) => ({ code, count }));
  const busy = fleet.activeOperation(ss);
  return {
    virtualMachine: { statusesSummary: summary },
    extensions: [{ name: HEALTH_EXTENSION, statusesSummary: summary }],
    statuses: [
      busy
        ? status("ProvisioningState/updating", "Updating", "Info", busy.startWallMs)
        : status("ProvisioningState/succeeded", "Provisioning succeeded", "Info", fleet.clock.wallNow()),
    ],
    orchestrationServices: [],
  };
}

export function galleryVersionJson(fleet: Fleet, version: GalleryVersionState, expandReplication: boolean) {
  const regions = version.targetRegions.map((region) => ({
    region,
    ...fleet.replicationState(version, region),
  }));
  const aggregatedState = regions.some((r) => r.state === "Failed")
    ? "Failed"
    : regions.every((r) => r.state === "Completed")
      ? "Completed"
      : "InProgress";
  return {
    id: version.id,
    name: version.name,
    type: "Microsoft.Compute/galleries/images/versions",
    location: regionDisplayName(version.location),
    properties: {
      publishingProfile: {
        targetRegions: version.targetRegions.map((region) => ({
          name: regionDisplayName(region),
          regionalReplicaCount: 1,
          storageAccountType: "Standard_LRS",
          excludeFromLatest: version.excludeFromLatest,
        })),
        replicaCount: 1,
        excludeFromLatest: version.excludeFromLatest,
        publishedDate: version.publishedDate,
        ...(version.endOfLifeDate ? { endOfLifeDate: version.endOfLifeDate } : {}),
        storageAccountType: "Standard_LRS",
      },
      storageProfile: {
        source: {
          virtualMachineId: `${version.imageId.replace(/\/galleries\/.*$/i, "")}/virtualMachines/build-${version.name}`,
        },
        osDiskImage: { sizeInGB: 30, hostCaching: "ReadWrite" },
      },
      safetyProfile: { allowDeletionOfReplicatedLocations: false, reportedForPolicyViolation: false },
      // A version whose replication is still running is Creating; one whose replication failed is Failed.
      provisioningState:
        aggregatedState === "InProgress" ? "Creating" : aggregatedState === "Failed" ? "Failed" : "Succeeded",
      ...(expandReplication
        ? {
            replicationStatus: {
              aggregatedState,
              summary: regions.map((r) => ({
                region: regionDisplayName(r.region),
                state: r.state,
                details:
                  r.state === "Failed" ? "Replication failed: the target region could not be reached." : "",
                progress: r.progress,
              })),
            },
          }
        : {}),
    },
  };
}

export function galleryImageJson(image: GalleryImageState) {
  return {
    id: image.id,
    name: image.name,
    type: "Microsoft.Compute/galleries/images",
    location: regionDisplayName(image.location),
    properties: {
      osType: image.osType,
      osState: image.osState,
      hyperVGeneration: "V2",
      architecture: "x64",
      identifier: image.identifier,
      provisioningState: "Succeeded",
    },
  };
}
