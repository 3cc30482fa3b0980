/**
 * The client commands' exit codes: a pipeline branches on them, so they are a public contract
 * (documented in `--help` and the README). Every exit code the client uses comes from here.
 */
import type { RolloutPhase } from "../../domain/rollout-view.ts";

export const exitCodes = {
  completed: 0,
  unexpected: 1,
  usage: 2,
  rolledBack: 3,
  failed: 4,
  timedOut: 5,
  unreachable: 6,
  unauthorized: 7,
  conflict: 8,
  rejected: 9,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

export const exitCodesHelp = `
Exit codes:
  0  completed (or the command succeeded)
  1  unexpected error
  2  invalid input or usage (bad spec, unknown rollout, bad option)
  3  rolled back
  4  failed (the rollback could not converge: claims kept until rollback or release)
  5  timed out waiting
  6  daemon unreachable
  7  unauthorized or forbidden (check CANARYD_TOKEN and its role)
  8  conflict (scale set busy, action not allowed in this phase, emergency stop in force)
  9  rejected at preflight (nothing was changed)

Environment:
  CANARYD_URL    the daemon's API (default http://127.0.0.1:8080)
  CANARYD_TOKEN  bearer token (read from the environment only, never from a flag)`;

/** How a terminal rollout ends a waiting command; undefined while the rollout is still running. */
export function exitCodeForPhase(phase: RolloutPhase): ExitCode | undefined {
  switch (phase) {
    case "completed":
      return exitCodes.completed;
    case "rolledBack":
      return exitCodes.rolledBack;
    case "failed":
      return exitCodes.failed;
    case "rejected":
      return exitCodes.rejected;
    default:
      return undefined;
  }
}

/** How an API refusal ends a command. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return exitCodes.unauthorized;
  // 423: an emergency stop refuses new starts.
  if (status === 409 || status === 423) return exitCodes.conflict;
  if (status >= 400 && status < 500 && status !== 429) return exitCodes.usage;
  return exitCodes.unexpected;
}
