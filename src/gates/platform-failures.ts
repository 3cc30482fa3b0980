/**
 * Error codes that are Azure's doing, not the image's: capacity, quota and platform faults. A
 * gate failing on these says so (`platformFailure`), so on-call does not blame the new image.
 */
const platformCodes = new Set(
  [
    "AllocationFailed",
    "ZonalAllocationFailed",
    "OverconstrainedAllocationRequest",
    "OverconstrainedZonalAllocationRequest",
    "SkuNotAvailable",
    "QuotaExceeded",
    "OperationNotAllowed",
    "InternalExecutionError",
    "InternalOperationError",
    "InternalServerError",
    "ServiceUnavailable",
    "NetworkingInternalOperationError",
    "DiskServiceInternalError",
  ].map((code) => code.toLowerCase()),
);

export function isPlatformErrorCode(code: string): boolean {
  const lower = code.toLowerCase();
  return platformCodes.has(lower) || lower.endsWith("quotaexceeded") || lower.includes("allocationfailed");
}
