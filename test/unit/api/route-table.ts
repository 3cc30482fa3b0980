/** The role matrix of issue 5: viewer reads, waits and follows; deployer changes; oncall rolls back. */
import { scaleSetA } from "./api-harness.ts";

export type Role = "viewer" | "deployer" | "oncall";
export interface RouteCase {
  name: string;
  method: "GET" | "POST" | "DELETE";
  url: string;
  payload?: object;
  minRole: Role;
}

/** Every /v1 route with a request that passes validation, and the least role it needs. */
export function routeTable(spec: object, scaleSetId = scaleSetA, id = "ro-1"): RouteCase[] {
  return [
    { name: "whoami", method: "GET", url: "/v1/whoami", minRole: "viewer" },
    { name: "list", method: "GET", url: "/v1/rollouts", minRole: "viewer" },
    { name: "get", method: "GET", url: `/v1/rollouts/${id}`, minRole: "viewer" },
    { name: "events", method: "GET", url: `/v1/rollouts/${id}/events`, minRole: "viewer" },
    { name: "wait", method: "GET", url: `/v1/rollouts/${id}/wait?timeoutSeconds=0`, minRole: "viewer" },
    { name: "record", method: "GET", url: `/v1/rollouts/${id}/record`, minRole: "viewer" },
    { name: "records", method: "GET", url: "/v1/records?since=2026-01-01T00:00:00Z", minRole: "viewer" },
    { name: "inventory", method: "GET", url: "/v1/inventory?subscriptionId=sub-1", minRole: "viewer" },
    { name: "approvals", method: "GET", url: "/v1/approvals", minRole: "viewer" },
    {
      name: "notification dead letters",
      method: "GET",
      url: "/v1/notifications/deadletters",
      minRole: "viewer",
    },
    {
      name: "approve version",
      method: "POST",
      url: "/v1/approvals",
      payload: { imageVersionId: approvableVersion },
      minRole: "oncall",
    },
    {
      name: "revoke approval",
      method: "DELETE",
      url: "/v1/approvals/ap-1",
      payload: { reason: "test" },
      minRole: "oncall",
    },
    {
      name: "start",
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      payload: spec,
      minRole: "deployer",
    },
    { name: "pause", method: "POST", url: `/v1/rollouts/${id}/pause`, payload: {}, minRole: "deployer" },
    { name: "resume", method: "POST", url: `/v1/rollouts/${id}/resume`, payload: {}, minRole: "deployer" },
    { name: "approve", method: "POST", url: `/v1/rollouts/${id}/approve`, payload: {}, minRole: "deployer" },
    { name: "abort", method: "POST", url: `/v1/rollouts/${id}/abort`, payload: {}, minRole: "deployer" },
    { name: "rollback", method: "POST", url: `/v1/rollouts/${id}/rollback`, payload: {}, minRole: "oncall" },
    {
      name: "rollback by scale set",
      method: "POST",
      url: "/v1/rollback",
      payload: { scaleSetId, reason: "test" },
      minRole: "oncall",
    },
    {
      name: "skipWindow",
      method: "POST",
      url: `/v1/rollouts/${id}/skip-window`,
      payload: { reason: "test" },
      minRole: "oncall",
    },
    { name: "stop state", method: "GET", url: "/v1/stop", minRole: "viewer" },
    { name: "stop", method: "POST", url: "/v1/stop", payload: { reason: "test" }, minRole: "oncall" },
    {
      name: "stop clear",
      method: "POST",
      url: "/v1/stop/clear",
      payload: { reason: "test" },
      minRole: "oncall",
    },
  ];
}

export const approvableVersion =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/app/versions/1.0.0";

export const rank: Record<Role, number> = { viewer: 0, deployer: 1, oncall: 2 };
