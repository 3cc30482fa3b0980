/**
 * Preflight: refuse what would be unsafe before anything changes, and record every scale set's
 * current image as its previous version. All findings are collected (not just the first), each
 * naming the scale set or region and the rule. The 409 for a scale set held by another rollout
 * is the engine's check, not this one.
 */
import type { AzureAdapters } from "../azure/adapters.ts";
import { isKnownUpgradeMode, type ScaleSetModel } from "../azure/compute.ts";
import { AzureAdapterError } from "../azure/errors.ts";
import type { Config } from "../config/schema.ts";
import type { ImageFacts, PreflightFinding } from "../domain/effects.ts";
import type { InstanceFacts, ScaleSetFacts } from "../domain/fleet.ts";
import type { ImageReference } from "../domain/image.ts";
import {
  effectiveVersion,
  formatImage,
  imageReferenceFromSpec,
  parseGalleryImageVersionId,
  referencesLatest,
} from "../domain/image-reference.ts";
import { imageKey, retiresInDays } from "../domain/inventory.ts";
import { scaleSetKey } from "../domain/scale-set-id.ts";
import type { RolloutSpec } from "../domain/spec.ts";
import { defaultGateSettings, type GateSettings } from "../gates/provider.ts";
import { gatePreflightFindings } from "../gates/registry.ts";
import { type ApprovedVersions, requiresApproval } from "../inventory/inventory-service.ts";
import { latestAllowedFor } from "./allow-latest.ts";
import type { EffectStep } from "./effect-executor.ts";
import { checkImageAvailability, type RegionTarget } from "./image-availability.ts";
import type { ScaleSetLocations } from "./scale-set-locations.ts";

export interface PreflightDeps {
  azure: Pick<AzureAdapters, "compute" | "gallery" | "marketplace">;
  allowLatestFor: readonly string[];
  locations: ScaleSetLocations;
  /** Operator settings of the gate kinds: each gate's own preflight checks them (src/gates/registry.ts). */
  gates?: GateSettings;
  /** Production image policy; absent: no approval rule and no end-of-life warning. */
  policy?: Config["policy"];
  /** The approved-version catalog the policy checks against. */
  approvals?: ApprovedVersions;
}

export async function runPreflight(
  deps: PreflightDeps,
  spec: RolloutSpec,
  now: Date,
  signal?: AbortSignal,
): Promise<EffectStep> {
  const scaleSetIds = uniqueIds(spec.waves.flatMap((wave) => wave.scaleSets));
  const findings: PreflightFinding[] = [
    ...gatePreflightFindings(spec.gates, deps.gates ?? defaultGateSettings),
  ];
  const models: ScaleSetModel[] = [];
  // Independent reads: in parallel, findings kept in the spec's order.
  const read = await Promise.all(scaleSetIds.map((scaleSetId) => readModel(deps, scaleSetId, signal)));
  for (const result of read) {
    if ("finding" in result) findings.push(result.finding);
    else models.push(result.model);
  }
  for (const model of models) findings.push(...modelFindings(model));

  const requested = imageReferenceFromSpec(spec.image);
  const resolved = await resolveTarget(deps, requested, models, findings, signal);
  let image: ImageFacts | undefined;
  if (resolved) {
    const targets: RegionTarget[] = models.map((model) => ({
      scaleSetId: model.id,
      subscriptionId: model.subscriptionId,
      location: model.location,
    }));
    const availability = await checkImageAvailability(deps.azure, resolved, targets, now, signal);
    findings.push(...availability.findings);
    image = availability.facts;
    const policy = await policyFindings(deps, models, resolved, image, now);
    const exception =
      spec.exception && policy.refusals.length > 0 && findings.length === 0
        ? { ...spec.exception, overrides: policy.refusals }
        : undefined;
    if (!exception) findings.push(...policy.refusals);
    if (findings.length === 0) {
      const read = await Promise.all(models.map((model) => scaleSetFacts(deps, model, signal)));
      for (const result of read) if ("finding" in result) findings.push(result.finding);
      if (findings.length === 0) {
        const notices = [
          ...policy.warnings,
          ...read.flatMap((result) => ("notice" in result && result.notice ? [result.notice] : [])),
        ];
        return {
          done: true,
          outcome: {
            type: "preflight.passed",
            scaleSets: read.flatMap((result) => ("facts" in result ? [result.facts] : [])),
            resolvedImage: resolved,
            replication: availability.replicating.length > 0 ? "replicating" : "completed",
            ...(notices.length > 0 ? { notices } : {}),
            ...(image ? { image } : {}),
            ...(exception ? { exception } : {}),
          },
        };
      }
    }
  }
  return { done: true, outcome: { type: "preflight.refused", findings, ...(image ? { image } : {}) } };
}

/**
 * The production policy: a scale set `policy.requireApproval` covers takes only an approved
 * version (refusals, each naming the scale set and the version; a spec `exception` overrides
 * them, recorded), and a version within `policy.eolWarningDays` of its end of life is a warning
 * (past it, image-availability already refuses).
 */
async function policyFindings(
  deps: PreflightDeps,
  models: ScaleSetModel[],
  image: ImageReference,
  facts: ImageFacts | undefined,
  now: Date,
): Promise<{ refusals: PreflightFinding[]; warnings: PreflightFinding[] }> {
  const refusals: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const policy = deps.policy;
  if (!policy) return { refusals, warnings };
  const days = retiresInDays(facts?.endOfLifeDate, now);
  if (
    days !== undefined &&
    Date.parse(facts?.endOfLifeDate ?? "") > now.getTime() &&
    days <= policy.eolWarningDays
  )
    warnings.push({
      code: "imageEndOfLifeSoon",
      message: `${formatImage(image)} reaches its end of life ${facts?.endOfLifeDate} in ${days} day(s) (policy.eolWarningDays ${policy.eolWarningDays})`,
    });
  const covered = models.filter((model) => requiresApproval(policy.requireApproval, model));
  if (covered.length === 0) return { refusals, warnings };
  const key = imageKey(image);
  const approved = (await deps.approvals?.approvedKeys()) ?? new Set<string>();
  if (key && approved.has(key.key)) return { refusals, warnings };
  for (const model of covered)
    refusals.push({
      scaleSetId: model.id,
      region: model.location,
      code: "IMAGE_NOT_APPROVED",
      message: `scale set ${model.name} requires an approved image version (policy.requireApproval) and ${key?.display ?? formatImage(image)} is not approved; approve it (POST /v1/approvals) or give the spec an exception { reason, ticket }`,
    });
  return { refusals, warnings };
}

async function readModel(
  deps: PreflightDeps,
  scaleSetId: string,
  signal: AbortSignal | undefined,
): Promise<{ model: ScaleSetModel } | { finding: PreflightFinding }> {
  try {
    const model = await deps.azure.compute.readScaleSetModel(scaleSetId, signal);
    deps.locations.remember(scaleSetId, model.location);
    return { model };
  } catch (error) {
    if (error instanceof AzureAdapterError && error.code === "SCALE_SET_NOT_FOUND")
      return {
        finding: {
          scaleSetId,
          code: "SCALE_SET_NOT_FOUND",
          message: `scale set ${scaleSetId} does not exist`,
        },
      };
    throw error;
  }
}

export function modelFindings(model: ScaleSetModel): PreflightFinding[] {
  const findings: PreflightFinding[] = [];
  const where = { scaleSetId: model.id, region: model.location };
  if (model.orchestrationMode !== "Uniform")
    findings.push({
      ...where,
      code: "ORCHESTRATION_NOT_UNIFORM",
      message: `scale set ${model.name} uses ${model.orchestrationMode} orchestration; canaryd rolls Uniform scale sets only`,
    });
  if (!isKnownUpgradeMode(model.upgradePolicyMode))
    findings.push({
      ...where,
      code: "UPGRADE_POLICY_UNKNOWN",
      message: `scale set ${model.name} has upgrade policy mode "${model.upgradePolicyMode}", which canaryd does not know: it cannot tell what a model change would do there; set its upgrade policy to Manual`,
    });
  else if (model.upgradePolicyMode !== "Manual")
    findings.push({
      ...where,
      code: "UPGRADE_POLICY_NOT_MANUAL",
      message: `scale set ${model.name} has upgrade policy ${model.upgradePolicyMode}: a model change would move every instance at once; set its upgrade policy to Manual`,
    });
  if (!model.imageReference)
    findings.push({
      ...where,
      code: "SCALE_SET_NO_IMAGE",
      message: `scale set ${model.name} has no imageReference in its model`,
    });
  return findings;
}

/** The spec's image with `latest` resolved to the exact version where configuration allows it. */
async function resolveTarget(
  deps: PreflightDeps,
  requested: ImageReference,
  models: ScaleSetModel[],
  findings: PreflightFinding[],
  signal: AbortSignal | undefined,
): Promise<ImageReference | undefined> {
  if (!referencesLatest(requested)) return requested;
  const refused = models.filter((model) => !latestAllowedFor(model.id, deps.allowLatestFor));
  for (const model of refused)
    findings.push({
      scaleSetId: model.id,
      code: "LATEST_NOT_ALLOWED",
      message: `image version "latest" is not allowed for scale set ${model.name} (engine.allowLatestFor); name an exact version`,
    });
  if (refused.length > 0 || models.length === 0) return undefined;
  if (requested.id && parseGalleryImageVersionId(requested.id)) {
    const latest = await deps.azure.gallery.resolveLatestVersionId(requested.id, signal);
    if (latest) return { id: latest };
  } else if (requested.publisher && requested.offer && requested.sku) {
    const first = models[0] as ScaleSetModel;
    const image = { publisher: requested.publisher, offer: requested.offer, sku: requested.sku };
    const version = await deps.azure.marketplace.latestVersion(
      first.subscriptionId,
      first.location,
      image,
      signal,
    );
    if (version) return { ...image, version };
  }
  findings.push({
    code: "IMAGE_NOT_FOUND",
    message: `no version of ${formatImage(requested)} to resolve "latest" to`,
  });
  return undefined;
}

async function scaleSetFacts(
  deps: PreflightDeps,
  model: ScaleSetModel,
  signal: AbortSignal | undefined,
): Promise<{ facts: ScaleSetFacts; notice?: PreflightFinding } | { finding: PreflightFinding }> {
  const instances = await deps.azure.compute.listInstances(model.id, signal);
  const { provisioningState: _state, tags: _tags, imageReference, ...facts } = model;
  const previous = resolvePrevious(model, imageReference ?? {}, instances);
  if ("finding" in previous) return previous;
  return {
    facts: { ...facts, imageReference: previous.image, instances },
    ...(previous.notice ? { notice: previous.notice } : {}),
  };
}

/**
 * The previous version as it must be restored: exact. A model that names `latest` (a marketplace
 * `latest`, a gallery `/versions/latest`, or a gallery image definition with no version) is
 * recorded with the one exact version every instance runs (`exactVersion`; a model write pins it),
 * and a `previousImageResolved` notice says so. When the instances run several versions, or none
 * that ARM reports, there is no one version to go back to: refused (PREVIOUS_IMAGE_NOT_EXACT).
 */
export function resolvePrevious(
  scaleSet: Pick<ScaleSetModel, "id" | "name" | "location">,
  model: ImageReference,
  instances: InstanceFacts[],
): { image: ImageReference; notice?: PreflightFinding } | { finding: PreflightFinding } {
  if (!referencesLatest(model)) return { image: model };
  const { exactVersion: _newest, ...named } = model;
  const where = { scaleSetId: scaleSet.id, region: scaleSet.location };
  const versions = [
    ...new Set(instances.map((i) => effectiveVersion(i.imageReference ?? {}) ?? "an unreported version")),
  ].sort();
  const [only] = versions;
  if (versions.length !== 1 || only === undefined || only === "an unreported version")
    return {
      finding: {
        ...where,
        code: "PREVIOUS_IMAGE_NOT_EXACT",
        message: `scale set ${scaleSet.name}'s model names ${formatImage(named)}, not an exact version, and its instances run ${versions.length === 0 ? "nothing (no instances)" : versions.join(", ")}: there is no one exact version a rollback could restore; pin the model to the version it should return to`,
      },
    };
  const image = { ...named, exactVersion: only };
  return {
    image,
    notice: {
      ...where,
      code: "previousImageResolved",
      message: `scale set ${scaleSet.name}'s model names ${formatImage(named)}; every instance runs ${only}, so the previous image is recorded as exactly ${formatImage(image)} and a rollback writes that version`,
    },
  };
}

function uniqueIds(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => {
    const key = scaleSetKey(id);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
