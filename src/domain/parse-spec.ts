/**
 * Turns what a user sent (YAML or JSON text, or an already parsed value) into a RolloutSpec, or
 * into errors that each name the field path and the rule it broke.
 */
import { parse as parseYaml } from "yaml";
import { isValidGalleryVersionName, parseGalleryImageVersionId, parseImageUrn } from "./image-reference.ts";
import { scaleSetKey } from "./scale-set-id.ts";
import { gateName, type RolloutSpec, rolloutSpecSchema } from "./spec.ts";

export interface SpecError {
  /** Like `strategy.canary.percent` or `waves[1].scaleSets[0]`; empty for the document itself. */
  path: string;
  rule: string;
}

export type SpecResult = { ok: true; spec: RolloutSpec } | { ok: false; errors: SpecError[] };

/** A rollout spec is a page of text; anything far larger is a mistake or an attack. */
export const maxSpecBytes = 256 * 1024;
/** Specs have no reason to use aliases much; a small cap refuses "billion laughs" documents. */
export const maxYamlAliases = 20;

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

function fail(path: string, rule: string): SpecResult {
  return { ok: false, errors: [{ path, rule }] };
}

export function parseRolloutSpec(text: string, contentType: "yaml" | "json"): SpecResult {
  if (new TextEncoder().encode(text).length > maxSpecBytes) {
    return fail("", `document too large: at most ${maxSpecBytes} bytes`);
  }
  let value: unknown;
  try {
    value =
      contentType === "json"
        ? JSON.parse(text)
        : parseYaml(text, { maxAliasCount: maxYamlAliases, uniqueKeys: true, prettyErrors: false });
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return fail("", `not valid ${contentType === "json" ? "JSON" : "YAML"}: ${message}`);
  }
  return validateRolloutSpec(value);
}

/**
 * Checks zod cannot express: image names that parse, each scale set in one wave only, and gate
 * names (their own or their kind) unique.
 */
function crossFieldErrors(spec: RolloutSpec): SpecError[] {
  const errors: SpecError[] = [];
  if ("galleryImageVersionId" in spec.image) {
    const parts = parseGalleryImageVersionId(spec.image.galleryImageVersionId);
    if (!parts) {
      errors.push({ path: "image.galleryImageVersionId", rule: "a gallery image version resource id" });
    } else if (!isValidGalleryVersionName(parts.version)) {
      errors.push({
        path: "image.galleryImageVersionId",
        rule: `version '${parts.version}' must be MAJOR.MINOR.PATCH (integers) or latest`,
      });
    }
  } else if (!parseImageUrn(spec.image.urn)) {
    errors.push({ path: "image.urn", rule: "publisher:offer:sku:version" });
  }
  const seenScaleSets = new Map<string, string>();
  const seenWaves = new Map<string, number>();
  spec.waves.forEach((wave, w) => {
    const firstWave = seenWaves.get(wave.name);
    if (firstWave !== undefined) {
      errors.push({
        path: `waves[${w}].name`,
        rule: `duplicate wave name: already used by waves[${firstWave}]`,
      });
    } else {
      seenWaves.set(wave.name, w);
    }
    wave.scaleSets.forEach((id, s) => {
      const path = `waves[${w}].scaleSets[${s}]`;
      const first = seenScaleSets.get(scaleSetKey(id));
      if (first !== undefined) errors.push({ path, rule: `duplicate scale set: already in ${first}` });
      else seenScaleSets.set(scaleSetKey(id), path);
    });
  });
  const seenGates = new Map<string, number>();
  spec.gates.forEach((gate, g) => {
    const name = gateName(gate);
    const first = seenGates.get(name);
    if (first === undefined) seenGates.set(name, g);
    else
      errors.push({
        path: gate.name === undefined ? `gates[${g}]` : `gates[${g}].name`,
        rule:
          `duplicate gate name '${name}': already used by gates[${first}]` +
          (gate.name === undefined ? "; give one of them a unique name" : ""),
      });
  });
  return errors;
}

/** The image union gives zod's generic "invalid input"; say what is expected instead. */
function imageErrors(value: unknown): SpecError[] | undefined {
  if (typeof value !== "object" || value === null || !("image" in value)) return undefined;
  const image = (value as { image: unknown }).image;
  if (typeof image !== "object" || image === null) {
    return [{ path: "image", rule: "an object with galleryImageVersionId or urn" }];
  }
  const keys = Object.keys(image);
  if (keys.length !== 1 || (keys[0] !== "galleryImageVersionId" && keys[0] !== "urn")) {
    return [{ path: "image", rule: "exactly one of galleryImageVersionId or urn" }];
  }
  return undefined;
}

export function validateRolloutSpec(value: unknown): SpecResult {
  const result = rolloutSpecSchema.safeParse(value);
  if (!result.success) {
    const custom = imageErrors(value) ?? [];
    const errors: SpecError[] = [...custom];
    for (const issue of result.error.issues) {
      const path = formatPath(issue.path);
      if (custom.length > 0 && path === "image") continue;
      errors.push({ path, rule: issue.message });
    }
    return { ok: false, errors };
  }
  const errors = crossFieldErrors(result.data);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, spec: result.data };
}
