/**
 * The logQuery gate's placeholders, substituted as KQL literals, never spliced as text:
 *
 * - `{canaryComputers}`, `{baselineComputers}`: `dynamic(["name", …])`, each name a double-quoted
 *   string literal with `\` and `"` escaped (write `Computer in ({canaryComputers})`);
 * - `{start}`, `{end}`: `datetime(2026-12-04T18:00:00.000Z)`, the evaluation's window.
 *
 * One pass over the query: text a value brings in is never scanned for placeholders again. A name
 * with a control character (a line break could end a literal in some tools) is refused. Pure.
 */

export const placeholderNames = ["canaryComputers", "baselineComputers", "start", "end"] as const;
export type PlaceholderName = (typeof placeholderNames)[number];

const placeholder = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Placeholders of the query the gate does not know (each once, in order). */
export function unknownPlaceholders(query: string): string[] {
  const known = new Set<string>(placeholderNames);
  const found = [...query.matchAll(placeholder)].map((match) => match[1] ?? "");
  return [...new Set(found.filter((name) => !known.has(name)))];
}

export class PlaceholderError extends Error {
  readonly code = "LOG_QUERY_PLACEHOLDER";
}

/** A KQL double-quoted string literal holding exactly `text`. */
export function kqlString(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(text))
    throw new PlaceholderError(`${JSON.stringify(text)} has a control character: not put in a query`);
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

export function kqlDatetime(at: Date): string {
  return `datetime(${at.toISOString()})`;
}

export function kqlStringList(values: readonly string[]): string {
  return `dynamic([${values.map(kqlString).join(", ")}])`;
}

export interface PlaceholderValues {
  canaryComputers: readonly string[];
  baselineComputers: readonly string[];
  start: Date;
  end: Date;
}

/** The query with every placeholder replaced by its literal; an unknown one throws, naming it. */
export function substitutePlaceholders(query: string, values: PlaceholderValues): string {
  return query.replace(placeholder, (_whole, name: string) => {
    switch (name) {
      case "canaryComputers":
        return kqlStringList(values.canaryComputers);
      case "baselineComputers":
        return kqlStringList(values.baselineComputers);
      case "start":
        return kqlDatetime(values.start);
      case "end":
        return kqlDatetime(values.end);
      default:
        throw new PlaceholderError(`unknown placeholder {${name}}`);
    }
  });
}
