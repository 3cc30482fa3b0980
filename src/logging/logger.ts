import pino, { type Logger } from "pino";
import type { Config } from "../config/schema.ts";
import { redactPaths, redactSecrets } from "./redact.ts";

export type { Logger };

export interface LoggerOptions {
  level: Config["log"]["level"];
  format: Config["log"]["format"];
  /** Where lines go; standard output by default. Tests pass a stream to inspect them. */
  destination?: NodeJS.WritableStream;
}

/** JSON lines by default, readable on a terminal; secrets redacted by path and in messages. */
export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.format === "pretty" || (options.format === "auto" && process.stdout.isTTY === true);
  const base: pino.LoggerOptions = {
    level: options.level,
    redact: { paths: redactPaths, censor: "[redacted]" },
    hooks: {
      logMethod(args, method) {
        method.apply(
          this,
          args.map((arg) => (typeof arg === "string" ? redactSecrets(arg) : arg)) as Parameters<
            typeof method
          >,
        );
      },
    },
    serializers: {
      err: (error: Error) => ({
        ...pino.stdSerializers.err(error),
        message: redactSecrets(error.message),
        stack: error.stack && redactSecrets(error.stack),
      }),
    },
  };
  if (options.destination) return pino(base, options.destination);
  if (pretty)
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss" } },
    });
  return pino(base);
}
