/**
 * Strips secrets from text that leaves the process (timeline, logs, errors): SAS query strings
 * (a boot diagnostics blob URL carries its signature in the query) and bearer tokens.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/(https?:\/\/[^\s?"']+)\?[^\s"']*/gi, "$1?[redacted]")
    .replace(/\b(sig|signature|token|access_token|code)=[^&\s"']+/gi, "$1=[redacted]")
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, "Bearer [redacted]");
}

/** The message of anything thrown, redacted and bounded. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return redactSecrets(text).slice(0, 2000);
}
