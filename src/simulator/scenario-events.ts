/**
 * Runs a scenario's `events` (and events added at run time): each fires once, at a simulated time (`at`) or a simulated delay after
 * the N-th successful request to an operation (`after`), and does one action (scale-out, repair,
 * another actor's model write, an ARM outage) through the same code as the admin endpoint.
 *
 * Timers run on the wall clock, converted with the time scale. Not persisted: after a restart with
 * a state file, timed events whose time had passed before the restart count as fired (their effect
 * is in the restored fleet); triggered events are armed again and count requests from zero.
 * A failing action (e.g. repairing an unknown instance) is recorded with its error code, never thrown.
 */
import { ArmError, invalidParameter } from "./arm-errors.ts";
import type { SimClock } from "./clock.ts";
import { foreignModelWrite, repairInstance, scaleOut, scaleSetByNameOrId } from "./fleet-ops.ts";
import type { RequestLogEntry } from "./request-log.ts";
import { scaleSetOfPath } from "./request-log.ts";
import type { SimContext } from "./router.ts";
import type { EventAction, ScenarioEvent } from "./scenario.ts";
import { scenarioEventSchema } from "./scenario.ts";

export interface ScenarioEventStatus {
  index: number;
  name?: string;
  trigger: string;
  action: EventAction;
  state: "pending" | "triggered" | "fired" | "failed";
  /** Simulated ms when the action ran. */
  firedAtSimulatedMs?: number;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Does the action; the armOutage fault goes through `addFault` so it shows in the fault list. */
export function runEventAction(
  ctx: SimContext,
  action: EventAction,
  addFault: (spec: unknown) => { id: string },
): unknown {
  if (ctx.fleet.settle()) ctx.changed();
  switch (action.kind) {
    case "scaleOut":
      return scaleOut(ctx, action.scaleSet, action.count);
    case "repair":
      return repairInstance(ctx, action.scaleSet, action.instanceId);
    case "foreignModelWrite":
      return foreignModelWrite(ctx, action.scaleSet, action.image);
    case "armOutage":
      return addFault(action);
  }
}

function statusOf(
  event: ScenarioEvent,
  index: number,
  state: ScenarioEventStatus["state"],
): ScenarioEventStatus {
  const after = event.after;
  return {
    index,
    ...(event.name ? { name: event.name } : {}),
    trigger:
      event.at !== undefined
        ? `at ${event.at}s`
        : `after ${after?.occurrence ?? 1}x ${after?.operation}${after?.scaleSet ? ` on ${after.scaleSet}` : ""}${event.delaySeconds ? ` +${event.delaySeconds}s` : ""}`,
    action: event.action,
    state,
  };
}

export class ScenarioEvents {
  readonly #statuses: ScenarioEventStatus[];
  readonly #events: ScenarioEvent[];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #counts = new Map<number, number>();
  readonly #ctx: SimContext;
  readonly #clock: SimClock;
  readonly #addFault: (spec: unknown) => { id: string };
  #closed = false;
  #listening = false;

  /** `restoredSimMs`: the simulated ms a restored state had reached (0 on a fresh start). */
  constructor(
    events: ScenarioEvent[],
    ctx: SimContext,
    clock: SimClock,
    addFault: (spec: unknown) => { id: string },
    restoredSimMs = 0,
  ) {
    this.#events = events;
    this.#ctx = ctx;
    this.#clock = clock;
    this.#addFault = addFault;
    this.#statuses = events.map((event, index) => {
      const passed = event.at !== undefined && restoredSimMs > 0 && event.at * 1000 <= restoredSimMs;
      return statusOf(event, index, passed ? "fired" : "pending");
    });
  }

  start(): void {
    this.#events.forEach((event, index) => {
      if (event.at !== undefined && this.#statuses[index]?.state === "pending")
        this.#schedule(index, event.at * 1000);
    });
    if (this.#events.some((e) => e.after)) this.#listen();
  }

  /**
   * Adds an event at run time (same schema as the scenario's; `at` counts from the scenario's start,
   * so a time already passed fires at once). 400 for an invalid event, 404 for an unknown scale set.
   */
  add(input: unknown): ScenarioEventStatus {
    const parsed = scenarioEventSchema.safeParse(input);
    if (!parsed.success) {
      throw invalidParameter(
        `Invalid event: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      );
    }
    const event = parsed.data;
    if ("scaleSet" in event.action) scaleSetByNameOrId(this.#ctx.fleet, event.action.scaleSet);
    if (event.after?.scaleSet) scaleSetByNameOrId(this.#ctx.fleet, event.after.scaleSet);
    const index = this.#events.push(event) - 1;
    const status = statusOf(event, index, "pending");
    this.#statuses.push(status);
    if (event.at !== undefined) this.#schedule(index, event.at * 1000);
    else this.#listen();
    return { ...status };
  }

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#ctx.log.onEntry((entry) => this.#observe(entry));
  }

  list(): ScenarioEventStatus[] {
    return this.#statuses.map((s) => ({ ...s }));
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #observe(entry: RequestLogEntry): void {
    if (this.#closed || entry.status >= 400) return;
    this.#events.forEach((event, index) => {
      const after = event.after;
      const status = this.#statuses[index];
      if (!after || status?.state !== "pending" || entry.operation !== after.operation) return;
      if (after.scaleSet) {
        const target = scaleSetOfPath(entry.path);
        const wanted = after.scaleSet.toLowerCase();
        if (!target || (target.name !== wanted && target.id !== wanted)) return;
      }
      const count = (this.#counts.get(index) ?? 0) + 1;
      this.#counts.set(index, count);
      if (count < after.occurrence) return;
      status.state = "triggered";
      this.#schedule(index, this.#clock.simNow() + event.delaySeconds * 1000);
    });
  }

  #schedule(index: number, dueSimMs: number): void {
    const waitMs = Math.max(0, (dueSimMs - this.#clock.simNow()) / this.#clock.timeScale);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#fire(index);
    }, waitMs);
    timer.unref();
    this.#timers.add(timer);
  }

  #fire(index: number): void {
    const event = this.#events[index];
    const status = this.#statuses[index];
    if (this.#closed || !event || !status) return;
    status.firedAtSimulatedMs = Math.round(this.#clock.simNow());
    try {
      status.result = runEventAction(this.#ctx, event.action, this.#addFault);
      status.state = "fired";
    } catch (error) {
      status.state = "failed";
      status.error =
        error instanceof ArmError
          ? { code: error.code, message: error.message }
          : { code: "SIM_EVENT_FAILED", message: error instanceof Error ? error.message : String(error) };
    }
  }
}
