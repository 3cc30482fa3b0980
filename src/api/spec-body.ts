/**
 * A rollout spec arrives as JSON or as YAML (`Content-Type: application/yaml`). Fastify parses
 * JSON (with its prototype-poisoning guard); YAML stays text until the domain parser reads it,
 * so both paths end in the same validation and the same `errors[]` (field path and rule).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { parseRolloutSpec, type SpecResult } from "../domain/parse-spec.ts";
import type { RolloutSpec } from "../domain/spec.ts";
import { invalidSpec } from "./problem.ts";

export const yamlMediaTypes = ["application/yaml", "application/x-yaml", "text/yaml"];

export function registerYamlBody(app: FastifyInstance): void {
  app.addContentTypeParser(yamlMediaTypes, { parseAs: "string" }, (_request, body, done) => done(null, body));
}

function isYaml(request: FastifyRequest): boolean {
  const type = (request.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  return yamlMediaTypes.includes(type);
}

/** The validated spec of a request, or a SPEC_INVALID error listing every broken rule. */
export function specFromRequest(request: FastifyRequest): RolloutSpec {
  const result =
    isYaml(request) && typeof request.body === "string"
      ? parseRolloutSpec(request.body, "yaml")
      : jsonSpec(request.body);
  if (!result.ok) throw invalidSpec(result.errors);
  return result.spec;
}

/**
 * A JSON body arrives parsed; it is written back to text so it meets the same size limit as a
 * YAML spec (the body limit alone lets a megabyte-sized spec into Redis and every snapshot).
 */
function jsonSpec(body: unknown): SpecResult {
  let text: string;
  try {
    text = JSON.stringify(body) ?? "null";
  } catch {
    // JSON.stringify recurses: nesting deep enough to overflow the stack is no spec either.
    return { ok: false, errors: [{ path: "", rule: "document nested too deeply" }] };
  }
  return parseRolloutSpec(text, "json");
}
