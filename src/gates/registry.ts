/**
 * THE list of gate kinds. The spec schema's discriminated union (src/domain/spec.ts) and the
 * evaluator (./evaluate-gates.ts) both read it: adding a kind is its folder plus one line here.
 * test/unit/gates/registry.test.ts checks every entry has a docs/gates.md section and that the
 * simulator serves the operations it names.
 */

import type { PreflightFinding } from "../domain/effects.ts";
import type { GateSpec } from "../domain/spec.ts";
import { bootDiagnosticsGate } from "./boot-diagnostics/provider.ts";
import { compareGate } from "./compare/provider.ts";
import { instanceHealthGate } from "./instance-health/provider.ts";
import { logQueryGate } from "./log-query/provider.ts";
import { metricGate } from "./metric/provider.ts";
import type { GateProvider, GateSettings } from "./provider.ts";
import { webhookGate } from "./webhook/provider.ts";

export const gateProviders = [
  instanceHealthGate,
  bootDiagnosticsGate,
  metricGate,
  compareGate,
  webhookGate,
  logQueryGate,
] as const;

type SchemasOf<Providers extends readonly GateProvider[]> = {
  -readonly [Index in keyof Providers]: Providers[Index]["schema"];
};

/** The providers' schemas, in registry order: the members of the spec's gate union. */
export const gateSchemas = gateProviders.map((provider) => provider.schema) as SchemasOf<
  typeof gateProviders
>;

const byKind = new Map<string, GateProvider>(gateProviders.map((provider) => [provider.kind, provider]));

/** Every gate's preflight findings (see GateProvider.preflight). */
export function gatePreflightFindings(
  gates: readonly GateSpec[],
  settings: GateSettings,
): PreflightFinding[] {
  return gates.flatMap(
    (gate, index) => gateProvider(gate.kind).preflight?.(gate, settings, `gates[${index}]`) ?? [],
  );
}

/** The provider of a kind (the spec schema only lets registered kinds through). */
export function gateProvider(kind: string): GateProvider {
  const provider = byKind.get(kind);
  if (!provider)
    throw Object.assign(new Error(`no gate provider for kind ${kind}`), { code: "GATE_KIND_UNKNOWN" });
  return provider;
}
