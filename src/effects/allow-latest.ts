/**
 * `latest` as an image version is refused unless configuration allows it for the target: an
 * entry is a scale set id or a glob (`*` any run of characters, `?` one), compared without case.
 */
export function latestAllowedFor(scaleSetId: string, allowLatestFor: readonly string[]): boolean {
  return matchesAnyGlob(scaleSetId, allowLatestFor);
}

/** Whether the id is one of the patterns: an exact id or a glob, compared without case. */
export function matchesAnyGlob(id: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => globToRegExp(pattern).test(id));
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}
