/**
 * A daemon's engine in a process of its own, so a test can kill -9 it: the real executors against
 * the simulator named by the connection file, workers on, fast takeover timings. Prints `ready`
 * once its workers run. Configured by CANARYD_TEST_* environment variables.
 */
import { pino } from "pino";
import { createAzureAdapters } from "../../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../../src/azure/credentials.ts";
import { createEffectExecutor } from "../../../../src/effects/create-effect-executor.ts";
import { createEngine } from "../../../../src/engine/service/engine.ts";
import { defaultConfig } from "../../../support/default-config.ts";
import { killTestTiming, simulatorEngineConfig } from "./kill-timing.ts";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const config = simulatorEngineConfig(env("CANARYD_TEST_PREFIX"), env("CANARYD_TEST_REDIS_URL"));
const access = await createAzureAccess({
  ...defaultConfig.azure,
  credential: "connectionFile",
  connectionFile: env("CANARYD_TEST_CONNECTION_FILE"),
});
const engine = createEngine({
  redisUrl: env("CANARYD_TEST_REDIS_URL"),
  config,
  executeEffect: createEffectExecutor({
    azure: createAzureAdapters(access),
    config: config.engine,
    allowLatestFor: [],
  }),
  logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
  // Accelerated 60 times; the processes share the clock's origin through Redis.
  timing: killTestTiming,
});
await engine.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void engine.stop().then(() => process.exit(0));
});
