/**
 * `canaryd` exactly as bin/canaryd.js runs it, with the engine's takeover timings shortened from
 * CANARYD_TEST_ENGINE_TIMING (JSON, a partial EngineTiming). The daemon's configuration has no
 * keys for them: at the defaults a killed process's job is taken over after 30-60 s (BullMQ's
 * job lock and stalled check), too slow for a crash suite that kills a daemon per trial.
 */
import { defaultEngineTiming, type EngineTiming } from "../../src/engine/engine.ts";

const overrides = process.env.CANARYD_TEST_ENGINE_TIMING;
if (overrides) Object.assign(defaultEngineTiming, JSON.parse(overrides) as Partial<EngineTiming>);
await import("../../src/cli/main.ts");
