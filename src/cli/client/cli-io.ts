/**
 * What the client commands need from the outside world, injectable so tests run the real
 * commands in-process: environment, output, exit, and fetch.
 */
import { ApiClient, defaultApiUrl } from "./api-client.ts";
import { CliError } from "./errors.ts";
import { exitCodes } from "./exit-codes.ts";

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Ends the process (commander usage errors); tests make it throw. */
  exit: (code: number) => never;
  setExitCode: (code: number) => void;
  fetch: typeof fetch;
  readStdin: () => Promise<string>;
}

export const processIo = (): CliIo => ({
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  exit: (code) => process.exit(code),
  setExitCode: (code) => {
    process.exitCode = code;
  },
  fetch: (...args) => fetch(...args),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
});

export function clientFrom(io: CliIo, url: string | undefined): ApiClient {
  const baseUrl = url ?? io.env.CANARYD_URL ?? defaultApiUrl;
  if (!URL.canParse(baseUrl) || !/^https?:$/.test(new URL(baseUrl).protocol)) {
    throw new CliError("CANARYD_URL (or --url) is not an http(s) URL", exitCodes.usage);
  }
  const token = io.env.CANARYD_TOKEN;
  return new ApiClient({ baseUrl, ...(token ? { token } : {}), fetch: io.fetch });
}
