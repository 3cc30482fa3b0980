/**
 * The approved image versions catalog: which gallery image versions may run where
 * `policy.requireApproval` applies. One Redis hash (`…:approvals`, approval id → JSON); a
 * revoked approval is kept with who revoked it, when and why (an audit trail), never deleted.
 * An approval is checked against the version as Azure reports it when it is made: a version that
 * does not exist, is past its end of life, or failed to replicate anywhere is refused, naming why.
 * Writes are single HSET/HSETNX commands: a crash leaves either the old or the new record.
 */
import { randomBytes } from "node:crypto";
import type { ImageVersionFacts } from "../azure/gallery.ts";
import { parseGalleryImageVersionId } from "../domain/image-reference.ts";
import { CanarydError } from "../engine/service/rollout-service.ts";
import type { RedisClient } from "../engine/store/redis-connection.ts";
import type { ApprovedVersions } from "../inventory/inventory-service.ts";

export interface Approval {
  id: string;
  imageVersionId: string;
  version: string;
  note?: string;
  expiresAt?: string;
  approvedBy: string;
  approvedAt: string;
  /** As read when approved. */
  endOfLifeDate?: string;
  revoked?: { by: string; at: string; reason: string };
}

export const approvalRefused = (code: string, message: string, imageVersionId: string) =>
  new CanarydError(code, 422, message, { imageVersionId });

export const approvalNotFound = (id: string) =>
  new CanarydError("APPROVAL_NOT_FOUND", 404, `no approval with id ${id}`, { approvalId: id });

/** What the API asks of the catalog. */
export interface ApprovalCatalog extends ApprovedVersions {
  approve(input: {
    imageVersionId: string;
    note?: string;
    expiresAt?: string;
    actor: string;
  }): Promise<Approval>;
  list(options?: { all?: boolean }): Promise<Approval[]>;
  revoke(id: string, actor: string, reason: string): Promise<Approval>;
}

export interface ApprovalStoreDeps {
  redis: RedisClient;
  /** The hash's key: `<redis.keyPrefix>:approvals`. */
  key: string;
  readImageVersion: (versionId: string) => Promise<ImageVersionFacts>;
  now: () => Date;
}

export class ApprovalStore implements ApprovalCatalog {
  readonly deps: ApprovalStoreDeps;

  constructor(deps: ApprovalStoreDeps) {
    this.deps = deps;
  }

  async approve(input: {
    imageVersionId: string;
    note?: string;
    expiresAt?: string;
    actor: string;
  }): Promise<Approval> {
    const { imageVersionId } = input;
    const parts = parseGalleryImageVersionId(imageVersionId);
    if (!parts)
      throw approvalRefused(
        "APPROVAL_NOT_A_VERSION",
        `${imageVersionId} is not a gallery image version id (…/galleries/<g>/images/<i>/versions/<v>)`,
        imageVersionId,
      );
    const now = this.deps.now();
    if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime())
      throw approvalRefused(
        "APPROVAL_EXPIRES_IN_PAST",
        `expiresAt ${input.expiresAt} is already past`,
        imageVersionId,
      );
    const facts = await this.deps.readImageVersion(imageVersionId);
    if (!facts.exists)
      throw approvalRefused(
        "APPROVAL_VERSION_MISSING",
        `gallery image version ${imageVersionId} does not exist`,
        imageVersionId,
      );
    if (facts.endOfLifeDate && Date.parse(facts.endOfLifeDate) <= now.getTime())
      throw approvalRefused(
        "APPROVAL_END_OF_LIFE",
        `gallery image version ${imageVersionId} reached its end of life ${facts.endOfLifeDate}`,
        imageVersionId,
      );
    const failed = Object.entries(facts.replication)
      .filter(([, state]) => state === "failed")
      .map(
        ([region]) =>
          `${region}${facts.replicationDetails[region] ? ` (${facts.replicationDetails[region]})` : ""}`,
      );
    if (failed.length > 0)
      throw approvalRefused(
        "APPROVAL_REPLICATION_FAILED",
        `replication of ${imageVersionId} failed in ${failed.join(", ")}`,
        imageVersionId,
      );
    const approval: Approval = {
      id: `ap-${now.getTime().toString(36)}-${randomBytes(5).toString("hex")}`,
      imageVersionId,
      version: parts.version,
      ...(input.note ? { note: input.note } : {}),
      ...(input.expiresAt ? { expiresAt: new Date(input.expiresAt).toISOString() } : {}),
      approvedBy: input.actor,
      approvedAt: now.toISOString(),
      ...(facts.endOfLifeDate ? { endOfLifeDate: facts.endOfLifeDate } : {}),
    };
    await this.deps.redis.hsetnx(this.deps.key, approval.id, JSON.stringify(approval));
    return approval;
  }

  /** Every approval, oldest first; revoked and expired ones only when asked. */
  async list(options: { all?: boolean } = {}): Promise<Approval[]> {
    const all = Object.values(await this.deps.redis.hgetall(this.deps.key)).map(
      (json) => JSON.parse(json) as Approval,
    );
    const now = this.deps.now().getTime();
    return all
      .filter((a) => options.all || isInForce(a, now))
      .sort((a, b) => a.approvedAt.localeCompare(b.approvedAt) || a.id.localeCompare(b.id));
  }

  async revoke(id: string, actor: string, reason: string): Promise<Approval> {
    const json = await this.deps.redis.hget(this.deps.key, id);
    if (!json) throw approvalNotFound(id);
    const approval = JSON.parse(json) as Approval;
    if (approval.revoked) return approval;
    const revoked: Approval = {
      ...approval,
      revoked: { by: actor, at: this.deps.now().toISOString(), reason },
    };
    await this.deps.redis.hset(this.deps.key, id, JSON.stringify(revoked));
    return revoked;
  }

  async approvedKeys(): Promise<ReadonlySet<string> | undefined> {
    const inForce = await this.list();
    if (inForce.length === 0) return undefined;
    return new Set(inForce.map((a) => a.imageVersionId.toLowerCase()));
  }
}

function isInForce(approval: Approval, now: number): boolean {
  return !approval.revoked && (!approval.expiresAt || Date.parse(approval.expiresAt) > now);
}
