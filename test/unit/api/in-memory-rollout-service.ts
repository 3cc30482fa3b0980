/**
 * A RolloutService test double that keeps rollouts in memory, so API and CLI tests can exercise
 * routes without the engine. It follows the contract's rules that the API relies on: 409 for a busy
 * scale set, 409 for an action in the wrong phase, idempotency keys, timeline seqs from 1.
 */

import { type Actor, userActions } from "../../../src/domain/effects.ts";
import type { ReleaseRecord } from "../../../src/domain/release-record.ts";
import {
  type DeadLetter,
  type RolloutActions,
  type RolloutPhase,
  type RolloutView,
  type TimelineEntry,
  terminalPhases,
} from "../../../src/domain/rollout-view.ts";
import type { RolloutSpec } from "../../../src/domain/spec.ts";
import {
  actionNotAllowed,
  type ListRolloutsQuery,
  nothingToRollBack,
  type RolloutAction,
  type RolloutPlan,
  type RolloutService,
  rolloutNotFound,
  scaleSetBusy,
} from "../../../src/engine/service/rollout-service.ts";

export interface RecordedStart {
  spec: RolloutSpec;
  actor: Actor;
  idempotencyKey?: string;
}

export class InMemoryRolloutService implements RolloutService {
  readonly rollouts = new Map<string, RolloutView>();
  readonly timelines = new Map<string, TimelineEntry[]>();
  readonly starts: RecordedStart[] = [];
  readonly actions: { id: string; action: RolloutAction; actor: Actor; reason?: string }[] = [];
  readonly subscriptions = new Map<string, Set<(entry: TimelineEntry) => void>>();
  isReady = true;
  private readonly byKey = new Map<string, string>();
  private readonly phaseWaiters = new Set<() => void>();
  private nextId = 1;

  async start(spec: RolloutSpec, options: { actor: Actor; idempotencyKey?: string }): Promise<RolloutView> {
    this.starts.push({ spec, ...options });
    const existing = options.idempotencyKey ? this.byKey.get(options.idempotencyKey) : undefined;
    if (existing) return this.view(existing);
    for (const scaleSetId of spec.waves.flatMap((w) => w.scaleSets)) {
      const holder = [...this.rollouts.values()].find(
        (r) => !terminalPhases.has(r.phase) && r.spec.waves.some((w) => w.scaleSets.includes(scaleSetId)),
      );
      if (holder) throw scaleSetBusy(scaleSetId, holder.id);
    }
    const id = `ro-${this.nextId++}`;
    const now = new Date().toISOString();
    this.rollouts.set(id, {
      id,
      name: spec.name,
      phase: "pending",
      spec,
      waves: spec.waves.map((w) => ({ name: w.name, scaleSetIds: w.scaleSets, status: "pending" })),
      scaleSets: [],
      findings: [],
      createdAt: now,
      updatedAt: now,
      createdBy: options.actor.id,
      revision: 1,
    });
    this.timelines.set(id, []);
    if (options.idempotencyKey) this.byKey.set(options.idempotencyKey, id);
    this.record(id, options.actor.id, "started", `rollout ${spec.name} started`);
    return this.view(id);
  }

  async plan(spec: RolloutSpec): Promise<RolloutPlan> {
    return {
      waves: spec.waves.map((w) => ({
        name: w.name,
        scaleSets: w.scaleSets.map((id) => ({
          id,
          batches: [{ kind: "canary" as const, instanceIds: ["0"] }],
          protectedInstanceIds: [],
        })),
      })),
      findings: [],
      wouldStart: true,
    };
  }

  async get(id: string): Promise<RolloutView | undefined> {
    const view = this.rollouts.get(id);
    if (!view) return undefined;
    const actions = Object.fromEntries(
      userActions.map((action) => {
        const why = this.refusal(view.phase, action);
        return [action, why ? { allowed: false, reason: why } : { allowed: true }];
      }),
    ) as RolloutActions;
    return { ...structuredClone(view), actions };
  }

  /** This double's phase rule (the engine asks the machine): only the end of a rollout refuses. */
  private refusal(phase: RolloutPhase, action: RolloutAction): string | undefined {
    const allowedAfterEnd =
      (action === "rollback" && (phase === "completed" || phase === "failed")) ||
      (action === "release" && phase === "failed");
    return terminalPhases.has(phase) && !allowedAfterEnd ? "the rollout has ended" : undefined;
  }

  /** This double never compacts. */
  async compactedRecord(): Promise<ReleaseRecord | undefined> {
    return undefined;
  }

  async list(query: ListRolloutsQuery): Promise<{ items: RolloutView[]; nextCursor?: string }> {
    const all = [...this.rollouts.values()].filter(
      (r) =>
        (!query.phase || r.phase === query.phase) &&
        (!query.scaleSetId || r.spec.waves.some((w) => w.scaleSets.includes(query.scaleSetId as string))),
    );
    const offset = query.cursor ? Number(query.cursor) : 0;
    const items = all.slice(offset, offset + query.limit);
    const next = offset + query.limit;
    return next < all.length ? { items, nextCursor: String(next) } : { items };
  }

  async act(id: string, action: RolloutAction, actor: Actor, reason?: string): Promise<RolloutView> {
    const view = this.view(id);
    const why = this.refusal(view.phase, action);
    if (why) throw actionNotAllowed(id, action, view.phase, why);
    this.actions.push({ id, action, actor, ...(reason ? { reason } : {}) });
    const next: Record<RolloutAction, RolloutPhase> = {
      pause: "paused",
      resume: "canary",
      approve: "promoting",
      abort: "rollingBack",
      rollback: "rollingBack",
      release: "failed",
      skipWindow: "canary",
    };
    this.setPhase(id, next[action], actor.id, reason);
    return this.view(id);
  }

  async rollbackScaleSet(scaleSetId: string, actor: Actor, reason?: string): Promise<RolloutView> {
    const target = [...this.rollouts.values()]
      .reverse()
      .find((r) => r.spec.waves.some((w) => w.scaleSets.includes(scaleSetId)));
    if (!target) throw nothingToRollBack(scaleSetId);
    return this.act(target.id, "rollback", actor, reason);
  }

  async timeline(id: string, afterSeq?: number): Promise<TimelineEntry[]> {
    this.view(id);
    return (this.timelines.get(id) ?? []).filter((e) => afterSeq === undefined || e.seq > afterSeq);
  }

  /** Dead letters a test plants, by rollout id. */
  readonly deadLettersById = new Map<string, DeadLetter[]>();

  async deadLetters(id: string): Promise<DeadLetter[]> {
    this.view(id);
    return this.deadLettersById.get(id) ?? [];
  }

  async subscribe(id: string, onEntry: (entry: TimelineEntry) => void): Promise<() => Promise<void>> {
    const set = this.subscriptions.get(id) ?? new Set();
    this.subscriptions.set(id, set);
    set.add(onEntry);
    return async () => {
      set.delete(onEntry);
    };
  }

  async waitForTerminal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RolloutView> {
    const done = () => terminalPhases.has(this.view(id).phase);
    if (!done()) {
      await new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          this.phaseWaiters.delete(check);
          signal?.removeEventListener("abort", finish);
          resolve();
        };
        const check = () => {
          if (done()) finish();
        };
        const timer = setTimeout(finish, timeoutMs);
        this.phaseWaiters.add(check);
        signal?.addEventListener("abort", finish);
      });
    }
    return this.view(id);
  }

  /** How many waitForTerminal calls are parked. */
  get waiting(): number {
    return this.phaseWaiters.size;
  }

  async ready() {
    return { ready: this.isReady, checks: { redis: this.isReady, workers: this.isReady } };
  }

  /** Test control: move a rollout to a phase, with a timeline entry. */
  setPhase(id: string, phase: RolloutPhase, actor = "system", reason?: string): void {
    const view = this.view(id);
    this.rollouts.set(id, {
      ...view,
      phase,
      ...(reason ? { reason } : {}),
      revision: view.revision + 1,
      updatedAt: new Date().toISOString(),
    });
    this.record(id, actor, "phase", `phase ${phase}${reason ? `: ${reason}` : ""}`, { phase });
    for (const check of [...this.phaseWaiters]) check();
  }

  /** Test control: append a timeline entry and notify subscribers. */
  record(
    id: string,
    actor: string,
    type: string,
    message: string,
    data?: Record<string, unknown>,
  ): TimelineEntry {
    const entries = this.timelines.get(id) ?? [];
    const entry: TimelineEntry = {
      seq: entries.length + 1,
      at: new Date().toISOString(),
      actor,
      type,
      message,
      ...(data ? { data } : {}),
    };
    entries.push(entry);
    this.timelines.set(id, entries);
    for (const listener of this.subscriptions.get(id) ?? []) listener(entry);
    return entry;
  }

  private view(id: string): RolloutView {
    const view = this.rollouts.get(id);
    if (!view) throw rolloutNotFound(id);
    return structuredClone(view);
  }
}
