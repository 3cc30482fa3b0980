/**
 * The emergency stop: one flag per deployment (Redis string `<prefix>:emergencyStop`, JSON of
 * actor, reason, at; written once with NX) that on-call sets with `POST /v1/stop` and lifts with
 * `POST /v1/stop/clear`.
 *
 * - Setting it pauses every active rollout through the rollout's own `pause` action (so each
 *   timeline records who and why, with the stop's reason), and writes `emergencyStop.set` in
 *   every active rollout's timeline, also those it cannot pause (a rollback is never stopped; a
 *   rollout already paused stays so). The ids it touched are kept (`<prefix>:emergencyStop:affected`).
 * - While set, new starts are refused (423 EMERGENCY_STOP naming the reason and who set it);
 *   dry runs still answer. A start that raced with the stop (checked before the flag was set,
 *   created after the sweep listed the active rollouts) looks again after it is created and
 *   pauses itself, so no rollout escapes the stop.
 * - Clearing it writes `emergencyStop.cleared` in every affected timeline and does NOT resume
 *   anything: each rollout the stop paused stays paused until someone resumes it (a person
 *   decides, per rollout, that it is safe to go on).
 *
 * Crash behaviour: the flag is written first, so a daemon killed mid-sweep leaves the stop set
 * (new starts refused); setting it again (idempotent) sweeps again. Invariant: while the flag is
 * set, no rollout created after it was set moves a scale set without a person's `resume`.
 */
import type { Actor } from "../domain/effects.ts";
import type { RolloutPhase, RolloutView } from "../domain/rollout-view.ts";
import type { Clock } from "../engine/core/clock.ts";
import { CanarydError, type RolloutService } from "../engine/service/rollout-service.ts";
import type { EngineKeys } from "../engine/store/keys.ts";
import type { RedisClient } from "../engine/store/redis-connection.ts";
import type { PendingTimelineEntry } from "../engine/store/rollout-store.ts";

export interface EmergencyStopState {
  active: boolean;
  actor?: string;
  reason?: string;
  at?: string;
  /** Rollouts the stop wrote into (paused, or recorded as not pausable). */
  affectedRolloutIds: string[];
}

export interface StopResult extends EmergencyStopState {
  /** Per affected rollout: paused now, or why not. */
  rollouts: { id: string; phase: RolloutPhase; paused: boolean; note?: string }[];
}

export const emergencyStopActive = (state: EmergencyStopState) =>
  new CanarydError(
    "EMERGENCY_STOP",
    423,
    `an emergency stop is in force (set by ${state.actor} at ${state.at}: ${state.reason}); no rollout starts until POST /v1/stop/clear`,
    { actor: state.actor, reason: state.reason, at: state.at },
  );

export const emergencyStopNotSet = () =>
  new CanarydError("EMERGENCY_STOP_NOT_SET", 409, "no emergency stop is in force: nothing to clear");

export interface EmergencyStopDeps {
  redis: RedisClient;
  keys: Pick<EngineKeys, "prefix">;
  /** The engine's service, unwrapped: the stop pauses through it. */
  service: RolloutService;
  /** Active (non-terminal) rollout ids. */
  activeIds: () => Promise<string[]>;
  /** Appends timeline entries without a new snapshot (RolloutStore.note). */
  note: (id: string, entries: PendingTimelineEntry[]) => Promise<void>;
  clock: Clock;
}

export class EmergencyStop {
  private readonly deps: EmergencyStopDeps;
  private readonly flagKey: string;
  private readonly affectedKey: string;

  constructor(deps: EmergencyStopDeps) {
    this.deps = deps;
    this.flagKey = `${deps.keys.prefix}:emergencyStop`;
    this.affectedKey = `${deps.keys.prefix}:emergencyStop:affected`;
  }

  async state(): Promise<EmergencyStopState> {
    const [json, affected] = await Promise.all([
      this.deps.redis.get(this.flagKey),
      this.deps.redis.smembers(this.affectedKey),
    ]);
    const flag = json ? (JSON.parse(json) as { actor?: string; reason?: string; at?: string }) : undefined;
    if (!flag?.actor) return { active: false, affectedRolloutIds: [] };
    return {
      active: true,
      actor: flag.actor,
      reason: flag.reason ?? "",
      at: flag.at ?? "",
      affectedRolloutIds: affected.sort(),
    };
  }

  /** Throws 423 EMERGENCY_STOP while the stop is in force. */
  async refuseIfStopped(): Promise<void> {
    const state = await this.state();
    if (state.active) throw emergencyStopActive(state);
  }

  /** Sets the stop (keeping the first actor and reason if already set) and pauses every active rollout. */
  async stop(actor: Actor, reason: string): Promise<StopResult> {
    const at = this.deps.clock.now().toISOString();
    // One atomic write; a stop already in force keeps its first actor and reason.
    await this.deps.redis.set(this.flagKey, JSON.stringify({ actor: actor.id, reason, at }), "NX");
    const state = await this.state();
    const rollouts: StopResult["rollouts"] = [];
    for (const id of await this.deps.activeIds()) {
      const outcome = await this.stopRollout(id, state);
      if (outcome) rollouts.push(outcome);
    }
    return { ...(await this.state()), rollouts };
  }

  /** Pauses one rollout for the stop in force and records it; undefined when it has ended. */
  async stopRollout(
    id: string,
    state: EmergencyStopState,
  ): Promise<StopResult["rollouts"][number] | undefined> {
    const { service } = this.deps;
    const stopReason = `emergency stop: ${state.reason}`;
    const stopper: Actor = { id: state.actor ?? "canaryd" };
    let view: RolloutView | undefined;
    let note: string | undefined;
    try {
      view = await service.act(id, "pause", stopper, stopReason);
    } catch (error) {
      if (!(error instanceof CanarydError) || error.code !== "ACTION_NOT_ALLOWED") throw error;
      view = await service.get(id);
      note = error.message;
    }
    if (!view) return undefined;
    await this.deps.redis.sadd(this.affectedKey, id);
    const paused = note === undefined;
    const what = paused
      ? "paused"
      : view.phase === "paused"
        ? "already paused: stays paused"
        : view.phase === "rollingBack"
          ? "rolling back: a rollback is never stopped"
          : `not paused (${view.phase})`;
    await this.deps.note(id, [
      this.entry(
        stopper.id,
        "emergencyStop.set",
        `Emergency stop by ${stopper.id}: ${state.reason}; this rollout: ${what}`,
        {
          reason: state.reason ?? "",
          setAt: state.at ?? "",
          paused,
        },
      ),
    ]);
    return { id, phase: view.phase, paused, ...(note ? { note: what } : {}) };
  }

  /** Lifts the stop and records it in every affected timeline; resumes nothing. */
  async clear(actor: Actor, reason?: string): Promise<EmergencyStopState & { clearedBy: string }> {
    const state = await this.state();
    if (!state.active) throw emergencyStopNotSet();
    await this.deps.redis.multi().del(this.flagKey).del(this.affectedKey).exec();
    for (const id of state.affectedRolloutIds) {
      const view = await this.deps.service.get(id);
      const after =
        view?.phase === "paused" ? "it stays paused: resume it to go on" : `it is ${view?.phase ?? "gone"}`;
      await this.deps.note(id, [
        this.entry(
          actor.id,
          "emergencyStop.cleared",
          `Emergency stop cleared by ${actor.id}${reason ? `: ${reason}` : ""}; ${after}`,
          { reason: reason ?? "", stopReason: state.reason ?? "", stoppedBy: state.actor ?? "" },
        ),
      ]);
    }
    return { ...state, active: false, clearedBy: actor.id };
  }

  private entry(
    actor: string,
    type: string,
    message: string,
    data: Record<string, unknown>,
  ): PendingTimelineEntry {
    return { at: this.deps.clock.now().toISOString(), actor, type, message, data };
  }
}

/**
 * The RolloutService the API uses while an emergency stop can be set: a start is refused while it
 * is in force, and a start that raced with it pauses itself once created.
 */
export function withEmergencyStop(service: RolloutService, stop: EmergencyStop): RolloutService {
  const guarded = Object.create(service) as RolloutService;
  guarded.start = async (spec, options) => {
    await stop.refuseIfStopped();
    const view = await service.start(spec, options);
    const state = await stop.state();
    if (!state.active) return view;
    await stop.stopRollout(view.id, state);
    return (await service.get(view.id)) ?? view;
  };
  return guarded;
}
