/** Keeps secrets out of log lines, errors and evidence. */

/** Pino redaction paths: headers and config values that carry credentials. */
export const redactPaths = [
  "req.headers.authorization",
  "req.headers.cookie",
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
];

const sasQuery = /([?&](?:sig|se|sp|sv|sr|st|skoid|sktid|skt|ske|sks|skv|spr|srt|ss)=)[^&\s"']*/gi;
const bearer = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;
const urlPassword = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)[^@\s/]+@/gi;

/** Replaces SAS signatures, bearer tokens and URL passwords in free text. */
export function redactSecrets(text: string): string {
  return text
    .replace(sasQuery, "$1REDACTED")
    .replace(bearer, "$1REDACTED")
    .replace(urlPassword, "$1REDACTED@");
}

/** A URL without its query string: a SAS URL is a credential, its path is not. */
export function withoutQuery(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? url : `${url.slice(0, at)}?REDACTED`;
}
