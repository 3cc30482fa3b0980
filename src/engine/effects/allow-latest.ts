/**
 * `latest` as an image version is refused unless configuration allows it for the target: an
 * entry is a scale set id or a glob (`*` any run of characters, `?` one), compared without case.
 */
export function latestAllowedFor(scaleSetId: string, allowLatestFor: readonly string[]): boolean {
  return allowLatestFor.some((pattern) => globToRegExp(pattern).test(scaleSetId));
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}
