-- create_instance: creates an instance in state `scheduled`, due now, with its first `state`
-- event. Re-creating an existing id is idempotent when the request is identical.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:ev:<id>       event stream
-- KEYS[3]  {p}:ready         zset id -> due ms
-- KEYS[4]  {p}:idx           zset id -> created ms (instance listing)
-- KEYS[5]  {p}:wake          shard channel
-- KEYS[6]  {p}:ctx:<id>      context hash (top-level key -> JSON text)
-- KEYS[7]  <prefix>:seq:<sequence id>, optional: the sequence, to check that ARGV[7] is still
--          its latest version. Sent on a single Redis only (it is in another hash slot), by a
--          caller that took the definition from its cache instead of reading it first.
-- ARGV[1]  instance id
-- ARGV[2]  fingerprint of the request (identical re-create detection)
-- ARGV[3]  now ms
-- ARGV[4]  stream maxlen
-- ARGV[5]  number of context key/value pairs that follow the instance fields
-- ARGV[6]  by: the principal creating it (on the `scheduled` event)
-- ARGV[7]  the sequence version the fields were made from (checked against KEYS[7])
-- ARGV[8..] field/value pairs of the new instance hash, then the context pairs
--
-- Returns  {1, 'scheduled'} created; {0, state} identical re-create; {-1, latest version}
--          when KEYS[7] is given and ARGV[7] is no longer its latest version (nothing changes)
-- Errors   "CONFLICT instance exists with a different request",
--          "INVALID arguments ..." when ARGV[5] disagrees with the arguments given (nothing changes)
local inst, ev, ready, idx, channel, ctx = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, fingerprint, now, maxlen, by = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local existing = redis.call('HMGET', inst, 'fingerprint', 'state')
if existing[2] then
  if existing[1] == fingerprint then return {0, existing[2]} end
  return redis.error_reply('CONFLICT instance ' .. id .. ' exists with a different request')
end
if KEYS[7] then
  local latest = redis.call('HGET', KEYS[7], 'latest')
  if latest ~= ARGV[7] then return {-1, tonumber(latest) or 0} end
end
local context_pairs = tonumber(ARGV[5])
local split = context_pairs and #ARGV - 2 * context_pairs
if not split or context_pairs < 0 or context_pairs % 1 ~= 0 or split < 7 or (split - 7) % 2 ~= 0 then
  return redis.error_reply('INVALID arguments context pair count does not match the arguments given')
end
local fields = {}
for i = 8, split do fields[#fields + 1] = ARGV[i] end
hset_pairs(ctx, ARGV, split + 1, #ARGV)
redis.call('HSET', inst, 'fingerprint', fingerprint, 'state', 'scheduled', 'epoch', 0, 'attempt', 0,
  'created_at', now, 'updated_at', now, unpack(fields))
redis.call('ZADD', ready, now, id)
redis.call('ZADD', idx, now, id)
state_event(ev, maxlen, id, 'scheduled', by)
wake_ready(channel, id)
return {1, 'scheduled'}
