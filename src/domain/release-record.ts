/**
 * The release record: what exactly happened in one rollout, in a form a release engineer attaches
 * to the change and an auditor reads a year later. A pure function of what canaryd stored (the
 * rollout view and its timeline): it never reads Azure, so the record of a rollout says what
 * canaryd saw and did then, not what the fleet looks like now. Calling it twice on the same
 * stored state gives the same record (no clock: `generatedFrom` names the revision and the last
 * timeline entry it covers).
 */
import type { GateVerdict, ImageFacts, PolicyException, PreflightFinding } from "./effects.ts";
import type { ImageReference } from "./image.ts";
import { effectiveVersion, imageReferenceFromSpec } from "./image-reference.ts";
import {
  type RolloutPhase,
  type RolloutView,
  type ScaleSetPhase,
  type TimelineEntry,
  terminalPhases,
} from "./rollout-view.ts";

export const releaseRecordSchema = "canaryd.release-record/v1";

/** Timeline lines that end a rollout, by the phase they end it in. */
const endingTypes: Record<string, RolloutPhase> = {
  "rollout.completed": "completed",
  "rollout.rolledBack": "rolledBack",
  "rollout.rejected": "rejected",
  "rollout.failed": "failed",
};

/** What a person (or canaryd on its own) did to the rollout, by the timeline line that records it. */
const actionTypes: Record<string, RecordAction["action"]> = {
  "approval.requested": "approvalRequested",
  "approval.given": "approve",
  "rollout.paused": "pause",
  "rollout.resumed": "resume",
  "rollback.started": "rollback",
  "rollback.alsoRequested": "rollback",
  "rollout.released": "release",
  "rollout.pauseRequested": "pause",
  "window.skipped": "skipWindow",
  "emergencyStop.set": "emergencyStop",
  "emergencyStop.cleared": "emergencyStopCleared",
};

export interface RecordAction {
  action:
    | "approvalRequested"
    | "approve"
    | "pause"
    | "resume"
    | "abort"
    | "rollback"
    | "release"
    | "skipWindow"
    | "emergencyStop"
    | "emergencyStopCleared";
  actor: string;
  at: string;
  reason?: string;
  /** Why a rollback began (`gateFailed`, `abort`, `rollback`, …), as the machine named it. */
  cause?: string;
  message: string;
  /** The timeline entry that records it. */
  seq: number;
}

export interface RecordGateVerdict {
  /** `rollout`: a batch's gates; `rollback`: instance health after a revert. */
  purpose: "rollout" | "rollback";
  batch?: number;
  verdict: GateVerdict;
  /** Consecutive passing evaluations this line stands for (streaks are recorded once). */
  evaluations: number;
  at: string;
  gates: { name: string; verdict: GateVerdict; summary: string }[];
  /** Evidence reference: the timeline entry holding the full evidence (`GET /v1/rollouts/{id}`). */
  evidence: string;
}

export interface RecordScaleSet {
  id: string;
  wave: string;
  phase: ScaleSetPhase;
  /** The image recorded before the first model write: what a rollback restores. */
  previousImage?: ImageReference;
  /** The image it ended on, as canaryd last knew it; absent when canaryd cannot say (failed). */
  endedOn?: ImageReference;
  endedOnNote: string;
  touchedInstances: number;
  protectedInstanceIds: string[];
  batches: {
    index: number;
    kind: string;
    instances: number;
    status: string;
    gates: { name: string; verdict: GateVerdict; summary: string; measuredAt: string }[];
  }[];
  gateVerdicts: RecordGateVerdict[];
}

export interface ReleaseRecord {
  schema: typeof releaseRecordSchema;
  rolloutId: string;
  name: string;
  phase: RolloutPhase;
  startedBy: string;
  startedAt: string;
  /** When the rollout reached its terminal phase; absent while it is under way. */
  endedAt?: string;
  owner?: string;
  changeRecord?: string;
  labels: Record<string, string>;
  image: {
    /** As the spec named it. */
    requested: ImageReference;
    /** With `latest` resolved: what was deployed. */
    deployed?: ImageReference;
    version?: string;
    publishedDate?: string;
    endOfLifeDate?: string;
    excludeFromLatest?: boolean;
    /** Per region of the spec's scale sets, as read at preflight. */
    replication?: Record<string, string>;
    readAt?: string;
  };
  scaleSets: RecordScaleSet[];
  actions: RecordAction[];
  /** The policy exception the rollout went ahead under, if any. */
  exception?: PolicyException & { seq: number };
  /** Preflight findings (refusals) and notices (warnings, resolved previous images). */
  findings: PreflightFinding[];
  notices: PreflightFinding[];
  outcome: { phase: RolloutPhase; terminal: boolean; reason?: string };
  generatedFrom: { revision: number; lastSeq: number };
}

export function buildReleaseRecord(view: RolloutView, timeline: TimelineEntry[]): ReleaseRecord {
  const imageFacts = lastOfType(timeline, "preflight.image")?.data as ImageFacts | undefined;
  const exceptionEntry = lastOfType(timeline, "policy.exception");
  const terminal = terminalPhases.has(view.phase);
  const ending = terminal
    ? [...timeline].reverse().find((e) => endingTypes[e.type] === view.phase)
    : undefined;
  const deployed = view.targetImage;
  const record: ReleaseRecord = {
    schema: releaseRecordSchema,
    rolloutId: view.id,
    name: view.name,
    phase: view.phase,
    startedBy: view.createdBy,
    startedAt: view.createdAt,
    ...(ending ? { endedAt: ending.at } : terminal ? { endedAt: view.updatedAt } : {}),
    ...(view.spec.owner ? { owner: view.spec.owner } : {}),
    ...(view.spec.changeRecord ? { changeRecord: view.spec.changeRecord } : {}),
    labels: view.spec.labels,
    image: {
      requested: imageReferenceFromSpec(view.spec.image),
      ...(deployed ? { deployed } : {}),
      ...versionOf(imageFacts, deployed),
      ...(imageFacts?.publishedDate ? { publishedDate: imageFacts.publishedDate } : {}),
      ...(imageFacts?.endOfLifeDate ? { endOfLifeDate: imageFacts.endOfLifeDate } : {}),
      ...(imageFacts?.excludeFromLatest !== undefined
        ? { excludeFromLatest: imageFacts.excludeFromLatest }
        : {}),
      ...(imageFacts ? { replication: imageFacts.replication, readAt: imageFacts.readAt } : {}),
    },
    scaleSets: view.scaleSets.map((ss) => scaleSetRecord(view, ss, timeline)),
    actions: timeline.flatMap(actionOf),
    ...(exceptionEntry
      ? { exception: { ...(exceptionEntry.data as unknown as PolicyException), seq: exceptionEntry.seq } }
      : {}),
    findings: view.findings,
    notices: timeline
      .filter((e) => e.type === "preflight.notice")
      .map((e) => e.data as unknown as PreflightFinding),
    outcome: { phase: view.phase, terminal, ...(view.reason ? { reason: view.reason } : {}) },
    generatedFrom: { revision: view.revision, lastSeq: timeline.at(-1)?.seq ?? 0 },
  };
  return record;
}

function versionOf(facts: ImageFacts | undefined, deployed: ImageReference | undefined) {
  const version = facts?.version ?? (deployed ? effectiveVersion(deployed) : undefined);
  return version ? { version } : {};
}

function lastOfType(timeline: TimelineEntry[], type: string): TimelineEntry | undefined {
  for (let i = timeline.length - 1; i >= 0; i--) if (timeline[i]?.type === type) return timeline[i];
  return undefined;
}

function actionOf(entry: TimelineEntry): RecordAction[] {
  let action = actionTypes[entry.type];
  if (!action) return [];
  const data = entry.data ?? {};
  const cause = typeof data.cause === "string" ? data.cause : undefined;
  if (action === "rollback" && cause === "abort") action = "abort";
  const reason = typeof data.reason === "string" && data.reason !== "" ? data.reason : undefined;
  return [
    {
      action,
      actor: entry.actor,
      at: entry.at,
      ...(reason ? { reason } : {}),
      ...(cause ? { cause } : {}),
      message: entry.message,
      seq: entry.seq,
    },
  ];
}

function scaleSetRecord(
  view: RolloutView,
  ss: RolloutView["scaleSets"][number],
  timeline: TimelineEntry[],
): RecordScaleSet {
  const ended = endedOn(view, ss);
  const mine = timeline.filter(
    (e) => typeof e.data?.scaleSetId === "string" && e.data.scaleSetId.toLowerCase() === ss.id.toLowerCase(),
  );
  return {
    id: ss.id,
    wave: ss.wave,
    phase: ss.phase,
    ...(ss.previousImage ? { previousImage: ss.previousImage } : {}),
    ...(ended.image ? { endedOn: ended.image } : {}),
    endedOnNote: ended.note,
    touchedInstances: ss.touchedInstanceIds.length,
    protectedInstanceIds: ss.protectedInstanceIds,
    batches: ss.batches.map((b) => ({
      index: b.index,
      kind: b.kind,
      instances: b.instanceIds.length,
      status: b.status,
      gates: b.gateResults.map((g) => ({
        name: g.name,
        verdict: g.verdict,
        summary: g.summary,
        measuredAt: g.measuredAt,
      })),
    })),
    gateVerdicts: mine.flatMap((e) => gateVerdictOf(view.id, e)),
  };
}

function endedOn(
  view: RolloutView,
  ss: RolloutView["scaleSets"][number],
): { image?: ImageReference; note: string } {
  const previous = ss.previousImage;
  switch (ss.phase) {
    case "completed":
      return view.targetImage
        ? { image: view.targetImage, note: "every instance on the new image" }
        : { note: "completed" };
    case "rolledBack":
      return previous
        ? { image: previous, note: "rolled back to the recorded previous image" }
        : { note: "rolled back" };
    case "waiting":
      if (ss.touchedInstanceIds.length > 0) return { note: "changed, then left waiting" };
      return previous
        ? { image: previous, note: "never changed: still on its previous image" }
        : { note: "never changed (not read: preflight refused)" };
    case "failed":
      return { note: "rollback could not finish: a person must look at it" };
    default:
      return { note: `still ${ss.phase}` };
  }
}

interface GateResultData {
  name?: string;
  gate?: string;
  verdict?: GateVerdict;
  summary?: string;
}

function gateVerdictOf(rolloutId: string, entry: TimelineEntry): RecordGateVerdict[] {
  const data = entry.data ?? {};
  const evidence = `/v1/rollouts/${rolloutId}#timeline-${entry.seq}`;
  if (entry.type === "gates.passedRepeatedly") {
    return [
      {
        purpose: "rollout",
        verdict: "passed",
        evaluations: typeof data.count === "number" ? data.count : 2,
        at: typeof data.to === "string" ? data.to : entry.at,
        gates: [],
        evidence,
      },
    ];
  }
  if (entry.type !== "gates.evaluated") return [];
  const results = Array.isArray(data.results) ? (data.results as GateResultData[]) : [];
  return [
    {
      purpose: typeof data.batch === "number" ? "rollout" : "rollback",
      ...(typeof data.batch === "number" ? { batch: data.batch } : {}),
      verdict: (data.verdict as GateVerdict) ?? "inconclusive",
      evaluations: 1,
      at: entry.at,
      gates: results.map((r) => ({
        name: r.name ?? r.gate ?? "gate",
        verdict: r.verdict ?? "inconclusive",
        summary: r.summary ?? "",
      })),
      evidence,
    },
  ];
}
