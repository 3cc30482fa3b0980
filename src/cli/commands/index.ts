import type { Command } from "commander";
import { registerEmergencyStop } from "./emergency-stop.ts";
import { registerInventory } from "./inventory.ts";
import { registerRelease, registerRollback } from "./rollback.ts";
import { registerRollout } from "./rollout.ts";
import { registerServe } from "./serve.ts";
import { registerSimulate } from "./simulate.ts";

/** Each command lives in its own file and registers itself here, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerServe(program);
  registerSimulate(program);
  registerRollout(program);
  registerRollback(program);
  registerRelease(program);
  registerEmergencyStop(program);
  registerInventory(program);
}
