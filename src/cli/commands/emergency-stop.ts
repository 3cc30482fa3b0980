/**
 * `canaryd stop --reason TEXT`: the emergency stop (every active rollout pauses, new starts are
 * refused); `canaryd stop clear [--reason TEXT]`: lift it (paused rollouts stay paused);
 * `canaryd stop status`: whether one is in force.
 */
import type { Command } from "commander";
import type { EmergencyStopState } from "../../emergency-stop/emergency-stop.ts";
import { type CliIo, clientFrom, processIo } from "../client/cli-io.ts";
import { asClientCommand, type ClientOptions, runAction } from "../client/command-kit.ts";
import { exitCodes } from "../client/exit-codes.ts";

function describeState(state: EmergencyStopState): string {
  return state.active
    ? `emergency stop in force: set by ${state.actor} at ${state.at}: ${state.reason} (${state.affectedRolloutIds.length} rollout(s) affected)`
    : "no emergency stop in force";
}

export function registerEmergencyStop(program: Command, io: CliIo = processIo()): void {
  const stop = asClientCommand(program.command("stop"), io)
    .description("Emergency stop: pause every active rollout and refuse new starts until `stop clear`")
    .option("--reason <text>", "why (required to set the stop): recorded in every affected timeline")
    .action(
      runAction(io, async (options: ClientOptions & { reason?: string }) => {
        if (!options.reason) {
          io.err("error: --reason is required to set the emergency stop");
          return exitCodes.usage;
        }
        const result = await clientFrom(io, options.url).emergencyStop(options.reason);
        if (options.json) io.out(JSON.stringify(result, null, 2));
        else {
          io.out(describeState(result));
          for (const r of result.rollouts) io.out(`  ${r.id}: ${r.paused ? "paused" : (r.note ?? r.phase)}`);
        }
        return exitCodes.completed;
      }),
    );

  asClientCommand(stop.command("clear"), io)
    .description("Lift the emergency stop; rollouts it paused stay paused until resumed")
    .option("--reason <text>", "recorded in every affected timeline")
    .action(
      runAction(io, async (options: ClientOptions & { reason?: string }, command: Command) => {
        // `stop` has its own --reason, which commander may hand to the parent: read both.
        const reason = options.reason ?? (command.parent?.opts().reason as string | undefined);
        const result = await clientFrom(io, options.url).clearEmergencyStop(reason);
        if (options.json) io.out(JSON.stringify(result, null, 2));
        else
          io.out(
            `emergency stop cleared by ${result.clearedBy}; still paused until resumed: ${result.affectedRolloutIds.join(", ") || "none"}`,
          );
        return exitCodes.completed;
      }),
    );

  asClientCommand(stop.command("status"), io)
    .description("Whether an emergency stop is in force, who set it and why")
    .action(
      runAction(io, async (options: ClientOptions) => {
        const state = await clientFrom(io, options.url).emergencyStopState();
        io.out(options.json ? JSON.stringify(state, null, 2) : describeState(state));
        return exitCodes.completed;
      }),
    );
}
