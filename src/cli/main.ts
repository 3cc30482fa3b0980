/** The `canaryd` command: one binary for the daemon, the simulator and the rollout client. */
import { Command } from "commander";
import { exitCodesHelp } from "./client/exit-codes.ts";
import { registerCommands } from "./commands/index.ts";

const program = new Command("canaryd")
  .description(
    "Roll VM image versions across Azure scale sets: canary, gates, promotion, automatic rollback.",
  )
  .showHelpAfterError()
  .addHelpText("after", exitCodesHelp);

registerCommands(program);

await program.parseAsync(process.argv);
