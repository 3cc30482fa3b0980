/** Errors the client commands end with; each carries the exit code it maps to. */
import { type ExitCode, exitCodeForStatus, exitCodes } from "./exit-codes.ts";

export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

export interface ProblemBody {
  status?: number;
  code?: string;
  detail?: string;
  errors?: { path: string; rule: string }[];
  [member: string]: unknown;
}

/** The API refused: carries its problem document. */
export class ApiError extends CliError {
  readonly status: number;
  readonly problem: ProblemBody;
  constructor(status: number, problem: ProblemBody) {
    const fields = (problem.errors ?? []).map((e) => `\n  ${e.path || "(document)"}: ${e.rule}`).join("");
    super(`${problem.detail ?? `HTTP ${status}`}${fields}`, exitCodeForStatus(status));
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

/** No answer from the daemon: refused, reset, unresolvable or timed out. */
export class DaemonUnreachableError extends CliError {
  constructor(baseUrl: string, cause: unknown) {
    const reason = describeCause(cause);
    super(`cannot reach the canaryd daemon at ${baseUrl}: ${reason}`, exitCodes.unreachable);
    this.name = "DaemonUnreachableError";
  }
}

function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = (cause as { cause?: unknown }).cause;
  if (inner instanceof Error) {
    const code = (inner as { code?: string }).code;
    return code ? `${code}` : inner.message;
  }
  return cause.name === "TimeoutError" ? "no answer in time" : cause.message;
}
