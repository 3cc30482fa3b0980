/**
 * The executor of `checkWindow`: evaluates configuration's windows and freezes for the wave
 * (its scale sets, the spec's labels) at the engine's clock. A pure read of configuration: no
 * I/O, so a crash or a repeated job answers the same for the same time.
 */
import type { Effect, OutcomeEvent } from "../domain/effects.ts";
import type { RolloutSpec } from "../domain/spec.ts";
import type { ChangeWindow, Freeze } from "./schema.ts";
import { windowState } from "./window-state.ts";

export interface WindowSettings {
  windows: readonly ChangeWindow[];
  freezes: readonly Freeze[];
}

export function checkWindow(
  effect: Extract<Effect, { kind: "checkWindow" }>,
  spec: RolloutSpec,
  settings: WindowSettings | undefined,
  now: Date,
): Omit<Extract<OutcomeEvent, { type: "window.checked" }>, "effectId" | "at"> {
  const state = windowState(now, settings?.windows ?? [], settings?.freezes ?? [], {
    scaleSetIds: effect.scaleSetIds,
    labels: spec.labels,
  });
  return {
    type: "window.checked",
    open: state.open,
    closedBy: state.closedBy,
    ...(state.nextOpenAt ? { nextOpenAt: state.nextOpenAt } : {}),
  };
}

/** Whether configuration has anything that could close a window (rollouts then check each wave). */
export function windowsConfigured(settings: WindowSettings): boolean {
  return settings.windows.length > 0 || settings.freezes.length > 0;
}
