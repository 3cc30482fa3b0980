/**
 * The store's Lua scripts. Each is one atomic step in Redis, the equivalent of a MULTI/EXEC
 * that can also read (check a revision, check a holder) before it writes: nothing else runs
 * between the check and the write, on one Redis or one Cluster slot (all keys share the hash tag).
 */
import { luaScript } from "./redis-script.ts";

/** Appends one timeline entry, stamping `seq` into the JSON (which always starts with '{'). */
const appendTimeline = `
local function appendTimeline(rolloutKey, timelineKey, channel, json)
  local seq = redis.call('HINCRBY', rolloutKey, 'timelineSeq', 1)
  local entry = '{"seq":' .. seq .. ',' .. string.sub(json, 2)
  redis.call('RPUSH', timelineKey, entry)
  redis.call('PUBLISH', channel, entry)
end
`;

/**
 * Writes the notification outbox entries that follow the timeline entries in ARGV (src/notifications/):
 * ARGV[at] = count, then (id, entry) pairs. Absent count: none (a caller without notifications).
 */
const writeNotifications = `
local function writeNotifications(key, at)
  local n = tonumber(ARGV[at] or '0')
  for i = 0, n - 1 do redis.call('HSET', key, ARGV[at + 1 + 2 * i], ARGV[at + 2 + 2 * i]) end
end
`;

/**
 * Creates a rollout: idempotency key, scale set claims (invariant 3), snapshot, outbox, timeline
 * and indexes, all or nothing.
 * KEYS: rollout, outbox, timeline, holders, active, phase index, all index, sequence, idempotency,
 *       notification outbox, then one history key per targeted scale set.
 * ARGV: id, state, revision, phase, createdAt, createdBy, channel, useIdempotency, idempotencyTtl,
 *       nClaims, nOutbox, nTimeline, claims..., (effectId, entry)..., timeline entries...,
 *       nNotifications, (notificationId, entry)...
 */
export const createScript = luaScript(`${appendTimeline}${writeNotifications}
local id = ARGV[1]
if ARGV[8] == '1' then
  local existing = redis.call('GET', KEYS[9])
  if existing then return {'exists', existing} end
end
local nClaims, nOutbox, nTimeline = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local claimsAt = 13
for i = 0, nClaims - 1 do
  local holder = redis.call('HGET', KEYS[4], ARGV[claimsAt + i])
  if holder and holder ~= id then return {'busy', ARGV[claimsAt + i], holder} end
end
local sequence = redis.call('INCR', KEYS[8])
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'revision', ARGV[3], 'phase', ARGV[4], 'createdAt', ARGV[5],
  'updatedAt', ARGV[5], 'createdBy', ARGV[6], 'sequence', sequence, 'timelineSeq', 0)
for i = 0, nClaims - 1 do redis.call('HSET', KEYS[4], ARGV[claimsAt + i], id) end
local outboxAt = claimsAt + nClaims
for i = 0, nOutbox - 1 do
  redis.call('HSET', KEYS[2], ARGV[outboxAt + 2 * i], ARGV[outboxAt + 2 * i + 1])
end
local timelineAt = outboxAt + 2 * nOutbox
for i = 0, nTimeline - 1 do appendTimeline(KEYS[1], KEYS[3], ARGV[7], ARGV[timelineAt + i]) end
writeNotifications(KEYS[10], timelineAt + nTimeline)
redis.call('ZADD', KEYS[7], sequence, id)
redis.call('ZADD', KEYS[6], sequence, id)
redis.call('SADD', KEYS[5], id)
for i = 11, #KEYS do redis.call('ZADD', KEYS[i], sequence, id) end
if ARGV[8] == '1' then redis.call('SET', KEYS[9], id, 'EX', tonumber(ARGV[9])) end
return {'created', tostring(sequence)}
`);

/**
 * One step's write: checks the revision it read is still current (optimistic concurrency), then
 * writes the new snapshot, its timeline entries and outbox entries, deletes the answered effects'
 * entries (the durable "done" mark; one step may answer several), moves holders and indexes. On a terminal phase the outbox is
 * cleared: effects the machine abandoned must not run after the end.
 * KEYS: rollout, outbox, timeline, holders, active, old phase index, new phase index,
 *       notification outbox
 * ARGV: id, expectedRevision, state, newRevision, phase, updatedAt, terminal, channel,
 *       answeredEffectIds (comma-separated), nClaims, nReleases, nOutbox, nTimeline, claims..., releases...,
 *       (effectId, entry)..., timeline entries..., nNotifications, (notificationId, entry)...
 */
export const commitScript = luaScript(`${appendTimeline}${writeNotifications}
local id = ARGV[1]
local current = redis.call('HGET', KEYS[1], 'revision')
if not current then return {'missing'} end
if current ~= ARGV[2] then return {'conflict', current} end
local nClaims, nReleases = tonumber(ARGV[10]), tonumber(ARGV[11])
local nOutbox, nTimeline = tonumber(ARGV[12]), tonumber(ARGV[13])
local claimsAt = 14
for i = 0, nClaims - 1 do
  local holder = redis.call('HGET', KEYS[4], ARGV[claimsAt + i])
  if holder and holder ~= id then return {'busy', ARGV[claimsAt + i], holder} end
end
for i = 0, nClaims - 1 do redis.call('HSET', KEYS[4], ARGV[claimsAt + i], id) end
local releasesAt = claimsAt + nClaims
for i = 0, nReleases - 1 do
  local scaleSet = ARGV[releasesAt + i]
  if redis.call('HGET', KEYS[4], scaleSet) == id then redis.call('HDEL', KEYS[4], scaleSet) end
end
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'revision', ARGV[4], 'phase', ARGV[5], 'updatedAt', ARGV[6])
if ARGV[7] == '1' then
  redis.call('DEL', KEYS[2])
else
  for effectId in string.gmatch(ARGV[9], '[^,]+') do redis.call('HDEL', KEYS[2], effectId) end
end
local outboxAt = releasesAt + nReleases
for i = 0, nOutbox - 1 do
  redis.call('HSET', KEYS[2], ARGV[outboxAt + 2 * i], ARGV[outboxAt + 2 * i + 1])
end
local timelineAt = outboxAt + 2 * nOutbox
for i = 0, nTimeline - 1 do appendTimeline(KEYS[1], KEYS[3], ARGV[8], ARGV[timelineAt + i]) end
writeNotifications(KEYS[8], timelineAt + nTimeline)
if KEYS[6] ~= KEYS[7] then
  local sequence = redis.call('HGET', KEYS[1], 'sequence')
  redis.call('ZREM', KEYS[6], id)
  redis.call('ZADD', KEYS[7], sequence, id)
end
if ARGV[7] == '1' then redis.call('SREM', KEYS[5], id) else redis.call('SADD', KEYS[5], id) end
return {'ok'}
`);

/**
 * Records events that changed nothing (stale or duplicate outcomes) and drops the answered
 * effect's outbox entry, without touching the snapshot or its revision.
 * KEYS: rollout, outbox, timeline. ARGV: channel, answeredEffectId, timeline entries...
 */
export const noteScript = luaScript(`${appendTimeline}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] ~= '' then redis.call('HDEL', KEYS[2], ARGV[2]) end
for i = 3, #ARGV do appendTimeline(KEYS[1], KEYS[3], ARGV[1], ARGV[i]) end
return 1
`);

/**
 * Saves an unfinished effect's progress, only while its entry is still pending (an answered
 * effect must not come back). KEYS: outbox. ARGV: effectId, entry. Returns 1 when saved.
 */
export const progressScript = luaScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`);
