/** Readable renderings of API answers for people; `--json` bypasses all of this. */
import type { PreflightFinding } from "../../domain/effects.ts";
import type { ImageReference } from "../../domain/image.ts";
import type { DeadLetter, RolloutView, TimelineEntry } from "../../domain/rollout-view.ts";
import type { RolloutPlan } from "../../engine/service/rollout-service.ts";

/** The last segment of a resource id: `.../virtualMachineScaleSets/web-a` → `web-a`. */
export const shortName = (resourceId: string) => resourceId.split("/").filter(Boolean).at(-1) ?? resourceId;

export function formatImage(image: ImageReference | undefined): string {
  if (!image) return "-";
  if (image.id) {
    const version = shortName(image.id);
    return image.exactVersion && image.exactVersion !== version
      ? `${version} (${image.exactVersion})`
      : version;
  }
  const urn = [image.publisher, image.offer, image.sku, image.version].filter(Boolean).join(":");
  return image.exactVersion ? `${urn} (${image.exactVersion})` : urn || "-";
}

const time = (iso: string) => (iso.length >= 19 ? iso.slice(11, 19) : iso);

export function formatEntry(entry: TimelineEntry): string {
  return `${time(entry.at)}  #${entry.seq}  ${entry.type.padEnd(18)} ${entry.message}  (${entry.actor})`;
}

function formatFindings(findings: PreflightFinding[]): string[] {
  return findings.map(
    (f) =>
      `  ! ${f.code}${f.scaleSetId ? ` on ${shortName(f.scaleSetId)}` : ""}${f.region ? ` (${f.region})` : ""}: ${f.message}`,
  );
}

export function formatView(view: RolloutView): string {
  const lines = [
    `rollout ${view.id}  ${view.name}  phase: ${view.phase}`,
    ...(view.reason ? [`  reason: ${view.reason}`] : []),
    `  target: ${formatImage(view.targetImage)}`,
    `  created ${view.createdAt} by ${view.createdBy}, updated ${view.updatedAt}`,
    ...formatFindings(view.findings ?? []),
  ];
  for (const wave of view.waves ?? []) {
    lines.push(`  wave ${wave.name} (${wave.status})`);
    for (const scaleSet of (view.scaleSets ?? []).filter((s) => s.wave === wave.name)) {
      lines.push(
        `    ${shortName(scaleSet.id)}  ${scaleSet.phase}  previous: ${formatImage(scaleSet.previousImage)}  ` +
          `updated instances: ${scaleSet.touchedInstanceIds.length}` +
          (scaleSet.protectedInstanceIds.length > 0
            ? `  protected: ${scaleSet.protectedInstanceIds.join(",")}`
            : ""),
      );
      for (const batch of scaleSet.batches) {
        lines.push(
          `      batch ${batch.index} ${batch.kind} [${batch.instanceIds.join(",")}] ${batch.status}`,
        );
        for (const gate of batch.gateResults)
          lines.push(`        ${gate.gate}: ${gate.verdict}: ${gate.summary}`);
      }
    }
  }
  return lines.join("\n");
}

/** Effects the engine gave up on: what failed, how (permanent, or out of attempts), where. */
export function formatDeadLetters(letters: DeadLetter[]): string[] {
  if (letters.length === 0) return [];
  return [
    `  dead letters (given up, never run again): ${letters.length}`,
    ...letters.map(
      (l) =>
        `    ${l.at} ${l.kind}${l.scaleSetId ? ` on ${shortName(l.scaleSetId)}` : ""}: ` +
        `${l.transient ? `transient, ${l.attempts} attempts` : "permanent, attempted once"}: ${l.code}: ${l.reason}`,
    ),
  ];
}

export function formatList(items: RolloutView[]): string {
  if (items.length === 0) return "no rollouts";
  const rows = [
    ["ID", "NAME", "PHASE", "CREATED", "BY"],
    ...items.map((r) => [r.id, r.name, r.phase, r.createdAt, r.createdBy]),
  ];
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function formatPlan(plan: RolloutPlan): string {
  const lines = [
    plan.wouldStart ? "preflight: would start" : "preflight: would be REJECTED",
    ...formatFindings(plan.findings),
    ...(plan.warnings ?? []).map((w) => `  warning ${w.code}: ${w.message}`),
    ...(plan.exception
      ? [`  policy exception (ticket ${plan.exception.ticket}): ${plan.exception.reason}`]
      : []),
  ];
  for (const wave of plan.waves) {
    lines.push(`wave ${wave.name}`);
    for (const scaleSet of wave.scaleSets) {
      lines.push(
        `  ${shortName(scaleSet.id)}  previous: ${formatImage(scaleSet.previousImage as ImageReference | undefined)}`,
      );
      scaleSet.batches.forEach((batch, i) => {
        lines.push(
          `    batch ${i} ${batch.kind}: ${batch.instanceIds.length} instance(s) [${batch.instanceIds.join(",")}]`,
        );
      });
      if (scaleSet.protectedInstanceIds.length > 0) {
        lines.push(`    protected (left alone): ${scaleSet.protectedInstanceIds.join(",")}`);
      }
    }
  }
  return lines.join("\n");
}
