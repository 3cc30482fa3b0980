/** Errors the decider throws: each one is a bug or a store it cannot read, never a user mistake. */

export class RolloutInvariantError extends Error {
  override name = "RolloutInvariantError";
  readonly code = "ROLLOUT_INVARIANT";
}

/** The engine loaded a snapshot written by an incompatible version of this machine. */
export class RolloutSchemaVersionError extends Error {
  override name = "RolloutSchemaVersionError";
  readonly code = "ROLLOUT_SCHEMA_VERSION";
}
