/** Scale set resource ids: ARM treats them case-insensitively, so comparisons must too. */

export interface ScaleSetIdParts {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

const scaleSetIdPattern =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachineScaleSets\/([^/]+)$/i;

/** The parts of a scale set resource id, or undefined when it is not one. */
export function parseScaleSetId(id: string): ScaleSetIdParts | undefined {
  const m = scaleSetIdPattern.exec(id);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return undefined;
  return { subscriptionId: m[1], resourceGroup: m[2], name: m[3] };
}

/** A comparison key: two ids that ARM considers the same resource have the same key. */
export function scaleSetKey(id: string): string {
  return id.toLowerCase();
}

export function sameScaleSet(a: string, b: string): boolean {
  return scaleSetKey(a) === scaleSetKey(b);
}

/** The scale set's name (last segment), for messages. */
export function scaleSetName(id: string): string {
  return parseScaleSetId(id)?.name ?? id;
}
