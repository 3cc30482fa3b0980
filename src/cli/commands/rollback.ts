/**
 * `canaryd rollback (ID | --scale-set ID) --reason TEXT`: on-call's one command; and
 * `canaryd release ID --reason TEXT`: hand back the scale sets a failed rollout still holds.
 */
import type { Command } from "commander";
import { type CliIo, clientFrom, processIo } from "../client/cli-io.ts";
import { asClientCommand, type ClientOptions, runAction } from "../client/command-kit.ts";
import { CliError } from "../client/errors.ts";
import { exitCodes } from "../client/exit-codes.ts";
import { formatView } from "../client/format.ts";

export function registerRollback(program: Command, io: CliIo = processIo()): void {
  asClientCommand(program.command("rollback"), io)
    .description(
      "Roll back to the recorded previous versions: a rollout by id, or whatever rollout last changed a scale set",
    )
    .argument("[id]", "rollout id")
    .option("--scale-set <id>", "scale set resource id, when the rollout id is not at hand")
    .requiredOption("--reason <text>", "why: recorded in the timeline with your identity")
    .action(
      runAction(
        io,
        async (id: string | undefined, options: ClientOptions & { scaleSet?: string; reason: string }) => {
          if ((id === undefined) === (options.scaleSet === undefined)) {
            throw new CliError(
              "give either a rollout id or --scale-set, not both or neither",
              exitCodes.usage,
            );
          }
          const client = clientFrom(io, options.url);
          const view = options.scaleSet
            ? await client.rollbackScaleSet(options.scaleSet, options.reason)
            : await client.act(id as string, "rollback", options.reason);
          if (options.json) io.out(JSON.stringify(view, null, 2));
          else io.out(`rolling back rollout ${view.id} (${view.name}): ${view.phase}\n${formatView(view)}`);
          return exitCodes.completed;
        },
      ),
    );
}

export function registerRelease(program: Command, io: CliIo = processIo()): void {
  asClientCommand(program.command("release"), io)
    .description(
      "Hand back, as they are, the scale sets a failed rollout still holds (its rollback could not converge)",
    )
    .argument("<id>", "rollout id")
    .requiredOption("--reason <text>", "why: recorded in the timeline with your identity")
    .action(
      runAction(io, async (id: string, options: ClientOptions & { reason: string }) => {
        const view = await clientFrom(io, options.url).act(id, "release", options.reason);
        if (options.json) io.out(JSON.stringify(view, null, 2));
        else io.out(`released the scale sets of rollout ${view.id} (${view.name}): ${view.phase}`);
        return exitCodes.completed;
      }),
    );
}
