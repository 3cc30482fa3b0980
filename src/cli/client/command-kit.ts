/** Shared wiring of the client commands: options, help, usage errors and error reporting. */
import { type Command, InvalidArgumentError, Option } from "commander";
import type { CliIo } from "./cli-io.ts";
import { parseDuration } from "./duration.ts";
import { ApiError, CliError } from "./errors.ts";
import { exitCodes, exitCodesHelp } from "./exit-codes.ts";

export interface ClientOptions {
  url?: string;
  json?: boolean;
}

/** `--url`, `--json`, the exit-code table in `--help`, usage errors exiting with 2. */
export function asClientCommand(command: Command, io: CliIo): Command {
  return command
    .option("--url <url>", "the daemon's API (default: CANARYD_URL or http://127.0.0.1:8080)")
    .option("--json", "machine-readable output (one JSON document; errors as JSON on stderr)")
    .addHelpText("after", exitCodesHelp)
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride((err) => io.exit(err.exitCode === 0 ? exitCodes.completed : exitCodes.usage));
}

export const timeoutOption = (description: string, fallback: string) =>
  new Option("--timeout <duration>", `${description} (e.g. 90s, 30m, 2h)`)
    .default(fallback)
    .argParser((text) => {
      if (parseDuration(text) === undefined)
        throw new InvalidArgumentError("expected a duration like 90s, 30m or 1h30m");
      return text;
    });

/** Runs a command body; its result (or error) becomes the exit code. */
export function runAction<Args extends unknown[]>(
  io: CliIo,
  body: (...args: Args) => Promise<number | undefined>,
): (...args: Args) => Promise<void> {
  return async (...args) => {
    const command = args.at(-1) as Command | undefined;
    const json = Boolean(command?.opts?.().json);
    try {
      io.setExitCode((await body(...args)) ?? exitCodes.completed);
    } catch (err) {
      const exitCode = err instanceof CliError ? err.exitCode : exitCodes.unexpected;
      const message = err instanceof Error ? err.message : String(err);
      if (json) {
        io.err(
          JSON.stringify({
            error: message,
            exitCode,
            ...(err instanceof ApiError ? { problem: err.problem } : {}),
          }),
        );
      } else {
        io.err(`error: ${message}`);
      }
      io.setExitCode(exitCode);
    }
  };
}
