/** Runs the real client commands in-process against a real (listening) API over the in-memory service. */
import { mkdtemp, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import type { CliIo } from "../../../src/cli/client/cli-io.ts";
import { registerEmergencyStop } from "../../../src/cli/commands/emergency-stop.ts";
import { registerInventory } from "../../../src/cli/commands/inventory.ts";
import { registerRollback } from "../../../src/cli/commands/rollback.ts";
import { registerRollout } from "../../../src/cli/commands/rollout.ts";

class ExitSignal extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  argv: string[],
  env: Record<string, string | undefined>,
  stdin = "",
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  let code = 0;
  const io: CliIo = {
    env,
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    exit: (exitCode) => {
      throw new ExitSignal(exitCode);
    },
    setExitCode: (exitCode) => {
      code = exitCode;
    },
    fetch: (...args) => fetch(...args),
    readStdin: async () => stdin,
  };
  const program = new Command("canaryd");
  registerRollout(program, io);
  registerRollback(program, io);
  registerInventory(program, io);
  registerEmergencyStop(program, io);
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (!(e instanceof ExitSignal)) throw e;
    code = e.code;
  }
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

export const urlOf = (server: { address(): unknown }) =>
  `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

export async function writeTemp(name: string, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-cli-"));
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}
