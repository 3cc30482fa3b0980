/**
 * The store's Lua scripts. Each is one atomic step in Redis, the equivalent of a MULTI/EXEC
 * that can also read (check a revision, check a holder) before it writes: nothing else runs
 * between the check and the write, on one Redis or one Cluster slot (all keys share the hash tag).
 * Keys and arguments are named (redis-script.ts `namedScript`): the store passes them by name.
 */
import { namedScript } from "./redis-script.ts";

/** Appends one timeline entry, stamping `seq` into the JSON (which always starts with '{'). */
const appendTimeline = `
local function appendTimeline(rolloutKey, timelineKey, channel, json)
  local seq = redis.call('HINCRBY', rolloutKey, 'timelineSeq', 1)
  local entry = '{"seq":' .. seq .. ',' .. string.sub(json, 2)
  redis.call('RPUSH', timelineKey, entry)
  redis.call('PUBLISH', channel, entry)
end
`;

/** Writes (id, entry) pairs of a flat list into a hash: outbox and notification entries. */
const writePairs = `
local function writePairs(key, list)
  for i = 1, #list, 2 do redis.call('HSET', key, list[i], list[i + 1]) end
end
`;

/**
 * Returns the first scale set of `claims` that another rollout holds, as the script's 'busy'
 * answer, or nil; checked before anything is written.
 */
const findBusy = `
local function findBusy(holders, claims, id)
  for _, scaleSet in ipairs(claims) do
    local holder = redis.call('HGET', holders, scaleSet)
    if holder and holder ~= id then return {'busy', scaleSet, holder} end
  end
  return nil
end
`;

/**
 * Creates a rollout: idempotency key, scale set claims (invariant 3), snapshot, outbox, timeline
 * and indexes, all or nothing. `L.snapshot` holds the snapshot's hash fields as (field, json)
 * pairs (the header `state` and its parts: machines/snapshot-codec.ts); `KL` the history key of
 * every targeted scale set.
 */
export const createScript = namedScript(
  {
    keys: [
      "rollout",
      "outbox",
      "timeline",
      "holders",
      "active",
      "phaseIndex",
      "allIndex",
      "sequence",
      "idempotency",
      "notificationOutbox",
    ],
    keyList: true,
    args: [
      "id",
      "revision",
      "phase",
      "createdAt",
      "createdBy",
      "channel",
      "useIdempotency",
      "idempotencyTtl",
    ],
    lists: ["snapshot", "claims", "outbox", "timeline", "notifications"],
  },
  `${appendTimeline}${writePairs}${findBusy}
if A.useIdempotency == '1' then
  local existing = redis.call('GET', K.idempotency)
  if existing then return {'exists', existing} end
end
local busy = findBusy(K.holders, L.claims, A.id)
if busy then return busy end
local sequence = redis.call('INCR', K.sequence)
redis.call('HSET', K.rollout, 'revision', A.revision, 'phase', A.phase, 'createdAt', A.createdAt,
  'updatedAt', A.createdAt, 'createdBy', A.createdBy, 'sequence', sequence, 'timelineSeq', 0)
writePairs(K.rollout, L.snapshot)
for _, scaleSet in ipairs(L.claims) do redis.call('HSET', K.holders, scaleSet, A.id) end
writePairs(K.outbox, L.outbox)
for _, entry in ipairs(L.timeline) do appendTimeline(K.rollout, K.timeline, A.channel, entry) end
writePairs(K.notificationOutbox, L.notifications)
redis.call('ZADD', K.allIndex, sequence, A.id)
redis.call('ZADD', K.phaseIndex, sequence, A.id)
redis.call('SADD', K.active, A.id)
for _, history in ipairs(KL) do redis.call('ZADD', history, sequence, A.id) end
if A.useIdempotency == '1' then redis.call('SET', K.idempotency, A.id, 'EX', tonumber(A.idempotencyTtl)) end
return {'created', tostring(sequence)}
`,
);

/**
 * One step's write: checks the revision it read is still current (optimistic concurrency), then
 * writes the snapshot's changed fields (`L.snapshot`: the header and the scale sets the step
 * changed), its timeline entries and outbox entries, deletes the answered effects' entries (the
 * durable "done" mark; one step may answer several), moves holders and indexes. On a terminal
 * phase the outbox is cleared: effects the machine abandoned must not run after the end.
 */
export const commitScript = namedScript(
  {
    keys: [
      "rollout",
      "outbox",
      "timeline",
      "holders",
      "active",
      "oldPhaseIndex",
      "newPhaseIndex",
      "notificationOutbox",
    ],
    args: ["id", "expectedRevision", "revision", "phase", "updatedAt", "terminal", "channel"],
    lists: ["snapshot", "answered", "claims", "releases", "outbox", "timeline", "notifications"],
  },
  `${appendTimeline}${writePairs}${findBusy}
local current = redis.call('HGET', K.rollout, 'revision')
if not current then return {'missing'} end
if current ~= A.expectedRevision then return {'conflict', current} end
local busy = findBusy(K.holders, L.claims, A.id)
if busy then return busy end
for _, scaleSet in ipairs(L.claims) do redis.call('HSET', K.holders, scaleSet, A.id) end
for _, scaleSet in ipairs(L.releases) do
  if redis.call('HGET', K.holders, scaleSet) == A.id then redis.call('HDEL', K.holders, scaleSet) end
end
redis.call('HSET', K.rollout, 'revision', A.revision, 'phase', A.phase, 'updatedAt', A.updatedAt)
writePairs(K.rollout, L.snapshot)
if A.terminal == '1' then
  redis.call('DEL', K.outbox)
else
  for _, effectId in ipairs(L.answered) do redis.call('HDEL', K.outbox, effectId) end
end
writePairs(K.outbox, L.outbox)
for _, entry in ipairs(L.timeline) do appendTimeline(K.rollout, K.timeline, A.channel, entry) end
writePairs(K.notificationOutbox, L.notifications)
if K.oldPhaseIndex ~= K.newPhaseIndex then
  local sequence = redis.call('HGET', K.rollout, 'sequence')
  redis.call('ZREM', K.oldPhaseIndex, A.id)
  redis.call('ZADD', K.newPhaseIndex, sequence, A.id)
end
if A.terminal == '1' then redis.call('SREM', K.active, A.id) else redis.call('SADD', K.active, A.id) end
return {'ok'}
`,
);

/**
 * Records events that changed nothing (stale or duplicate outcomes) and drops the answered
 * effect's outbox entry, without touching the snapshot or its revision.
 */
export const noteScript = namedScript(
  { keys: ["rollout", "outbox", "timeline"], args: ["channel", "answeredEffectId"], lists: ["timeline"] },
  `${appendTimeline}
if redis.call('EXISTS', K.rollout) == 0 then return 0 end
if A.answeredEffectId ~= '' then redis.call('HDEL', K.outbox, A.answeredEffectId) end
for _, entry in ipairs(L.timeline) do appendTimeline(K.rollout, K.timeline, A.channel, entry) end
return 1
`,
);

/**
 * Saves an unfinished effect's progress, only while its entry is still pending (an answered
 * effect must not come back). Returns 1 when saved.
 */
export const progressScript = namedScript(
  { keys: ["outbox"], args: ["effectId", "entry"], lists: [] },
  `
if redis.call('HEXISTS', K.outbox, A.effectId) == 0 then return 0 end
redis.call('HSET', K.outbox, A.effectId, A.entry)
return 1
`,
);
