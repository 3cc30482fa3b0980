import { dirname, join } from "node:path";
import { type Command, Option } from "commander";
import { startSimulator } from "../../simulator/index.ts";

interface SimulateOptions {
  scenario: string;
  host: string;
  port: string;
  timeScale: string;
  connectionFile: string;
  stateFile?: string;
  fresh?: boolean;
}

function positiveNumber(name: string, value: string, allowZero: boolean): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
    throw new Error(`--${name} must be a ${allowZero ? "non-negative" : "positive"} number, got '${value}'`);
  return n;
}

export function registerSimulate(program: Command): void {
  program
    .command("simulate")
    .description("Run the Azure fleet simulator (ARM and Azure Monitor over HTTPS)")
    .requiredOption("--scenario <file>", "scenario YAML (e.g. config/simulator/demo.yaml)")
    .option("--host <host>", "address to listen on; also a name in the server certificate", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one)", "8443")
    .option("--time-scale <x>", "simulated seconds per wall-clock second", "1")
    .option("--connection-file <path>", "where to write the connection JSON", "var/simulator.json")
    .addOption(
      new Option("--state-file <path>", "persist the fleet here; a restart with it continues").conflicts(
        "fresh",
      ),
    )
    .addOption(new Option("--fresh", "start from the scenario (no state file)").conflicts("stateFile"))
    .action(async (options: SimulateOptions) => {
      const sim = await startSimulator({
        scenario: options.scenario,
        host: options.host,
        port: positiveNumber("port", options.port, true),
        timeScale: positiveNumber("time-scale", options.timeScale, false),
        connectionFile: options.connectionFile,
        stateFile: options.stateFile ?? join(dirname(options.connectionFile), "simulator-state.json"),
        ...(options.fresh ? { fresh: true } : {}),
      });
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
