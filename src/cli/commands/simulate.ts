import type { Command } from "commander";

export function registerSimulate(program: Command): void {
  program.command("simulate").description("Run the Azure fleet simulator (ARM and Azure Monitor over HTTPS)");
}
