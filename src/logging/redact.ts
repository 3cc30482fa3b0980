/** Keeps secrets out of log lines, errors, the timeline and gate evidence. One place for the rules. */

/** Pino redaction paths: headers and values that carry credentials. */
export const redactPaths = [
  "req.headers.authorization",
  "req.headers.cookie",
  "request.headers.authorization",
  "headers.authorization",
  "authorization",
  "token",
  "*.token",
  "password",
  "*.password",
  "staticToken",
  "*.staticToken",
  "redisUrl",
  "*.redisUrl",
  "secrets",
  "*.secrets",
  "*.*.secrets",
];

/**
 * Replaces every URL's query string (a SAS URL carries its signature there), signature and token
 * parameters outside URLs, bearer tokens and passwords inside URLs.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/(https?:\/\/[^\s?#"']+)\?[^\s"']*/gi, "$1?[redacted]")
    .replace(/\b(sig|signature|token|access_token|code)=[^&\s"']+/gi, "$1=[redacted]")
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, "Bearer [redacted]")
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)[^@\s/]+@/gi, "$1[redacted]@");
}

/** A URL without its query string or fragment, for naming a resource in an error. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "<unparseable url>";
  }
}

/** The message of anything thrown, redacted and bounded. */
export function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return redactSecrets(text).slice(0, 2000);
}
