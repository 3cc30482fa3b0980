import { dirname, join } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";

interface SimulateOptions {
  scenario: string;
  host: string;
  publicHost?: string;
  port: number;
  timeScale: number;
  connectionFile: string;
  stateFile?: string;
  fresh?: boolean;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("a port number 0-65535 (0: any free port)");
  return n;
}

function timeScale(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("a positive number");
  return n;
}

export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description("Run the Azure fleet simulator (ARM and Azure Monitor over HTTPS)")
    .requiredOption("--scenario <file>", "scenario YAML (e.g. config/simulator/demo.yaml)")
    .option("--host <host>", "address to listen on; also a name in the server certificate", "127.0.0.1")
    .option("--public-host <name>", "name clients use to reach it (endpoints, certificate); default: --host")
    .option("--port <n>", "port (0 picks a free one)", port, 8443)
    .option("--time-scale <x>", "simulated seconds per wall-clock second", timeScale, 1)
    .option("--connection-file <path>", "where to write the connection JSON", "var/simulator.json")
    .addOption(
      new Option(
        "--state-file <path>",
        "where the fleet is kept; a restart continues from it (default: simulator-state.json next to the connection file)",
      ).conflicts("fresh"),
    )
    .addOption(
      new Option("--fresh", "start from the scenario, discarding the kept state").conflicts("stateFile"),
    )
    .action(async (options: SimulateOptions, command: Command) => {
      // Loaded on demand: other commands need not pay for the simulator.
      const { startSimulator } = await import("../../simulator/index.ts");
      const sim = await startSimulator({
        scenario: options.scenario,
        host: options.host,
        ...(options.publicHost ? { publicHost: options.publicHost } : {}),
        port: options.port,
        timeScale: options.timeScale,
        connectionFile: options.connectionFile,
        stateFile: options.stateFile ?? join(dirname(options.connectionFile), "simulator-state.json"),
        ...(options.fresh ? { fresh: true } : {}),
      }).catch((error: unknown) =>
        command.error(`cannot start the simulator: ${(error as Error).message}`, { exitCode: 2 }),
      );
      const c = sim.connection;
      process.stdout.write(
        [
          `canaryd simulator listening on ${c.resourceManagerEndpoint} (subscription ${c.subscriptionId})`,
          `  connection file: ${options.connectionFile}`,
          `  state file:      ${options.stateFile ?? join(dirname(options.connectionFile), "simulator-state.json")}${options.fresh ? " (fresh start)" : ""}`,
          `  CA certificate:  ${c.caCertFile}`,
          `  metrics:         ${c.metricsEndpoint}`,
          `  admin:           ${c.adminEndpoint}`,
          `Point canaryd at it:  CANARYD_AZURE_CONNECTION_FILE=${options.connectionFile} canaryd serve`,
          "Point an SDK client at it: see docs/simulator.md (endpoint + tlsOptions.ca + the token in the connection file).",
          "",
        ].join("\n"),
      );
      const stop = async () => {
        await sim.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });
}
