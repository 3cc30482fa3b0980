import type { Command } from "commander";
import { ConfigError, loadConfig } from "../../config/load-config.ts";
import { createLogger } from "../../logging/logger.ts";

interface ServeOptions {
  config?: string;
  simulate?: string;
  timeScale: string;
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("Run the daemon: API, rollout engine and workers (with --simulate, on a simulated fleet)")
    .option("-c, --config <file>", "configuration file layered over config/default.yaml (or CANARYD_CONFIG)")
    .option("--simulate <scenario>", "run the Azure simulator in-process on this scenario and use it")
    .option(
      "--time-scale <x>",
      "simulated seconds per second, for the simulator and the engine's timers",
      "1",
    )
    .action(async (options: ServeOptions) => {
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(options.config ? { file: options.config } : {});
      } catch (error) {
        if (error instanceof ConfigError) {
          process.stderr.write(`canaryd: ${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      const timeScale = Number(options.timeScale);
      if (!Number.isFinite(timeScale) || timeScale <= 0) {
        process.stderr.write(`canaryd: --time-scale must be a positive number, got ${options.timeScale}\n`);
        process.exit(2);
      }
      const logger = createLogger(config.log);
      // Loaded on demand: the client commands need not pay for the Azure SDKs and the engine.
      const { startDaemon } = await import("../../daemon/daemon.ts");
      let daemon: Awaited<ReturnType<typeof startDaemon>>;
      try {
        daemon = await startDaemon({
          config,
          logger,
          timeScale,
          ...(options.simulate ? { simulateScenario: options.simulate } : {}),
        });
      } catch (error) {
        const code = (error as { code?: string }).code;
        logger.fatal({ err: error, code }, "canaryd could not start");
        logger.flush();
        process.stderr.write(`canaryd: ${(error as Error).message}\n`);
        process.exit(1);
      }
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) {
          logger.warn({ signal }, "second signal: exiting without waiting");
          process.exit(1);
        }
        stopping = true;
        logger.info({ signal }, "shutting down: no new work, handing back in-flight jobs");
        daemon.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => shutdown("SIGTERM"));
      process.on("SIGINT", () => shutdown("SIGINT"));
    });
}
