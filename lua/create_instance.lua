-- create_instance: creates an instance in state `scheduled`, due now, with its first `state`
-- event. Re-creating an existing id is idempotent when the request is identical.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:i:<id>:ev     event stream
-- KEYS[3]  {p}:ready         zset id -> due ms
-- KEYS[4]  {p}:idx           zset id -> created ms (instance listing)
-- KEYS[5]  {p}:wake          shard channel
-- ARGV[1]  instance id
-- ARGV[2]  fingerprint of the request (identical re-create detection)
-- ARGV[3]  now ms
-- ARGV[4]  stream maxlen
-- ARGV[5..] field/value pairs of the new instance hash
--
-- Returns  {1, 'scheduled'} created; {0, state} identical re-create
-- Errors   "CONFLICT instance exists with a different request"
local inst, ev, ready, idx, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, fingerprint, now, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local existing = redis.call('HMGET', inst, 'fingerprint', 'state')
if existing[2] then
  if existing[1] == fingerprint then return {0, existing[2]} end
  return redis.error_reply('CONFLICT instance ' .. id .. ' exists with a different request')
end
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', inst, 'fingerprint', fingerprint, 'state', 'scheduled', 'epoch', 0, 'attempt', 0,
  'created_at', now, 'updated_at', now, unpack(fields))
redis.call('ZADD', ready, now, id)
redis.call('ZADD', idx, now, id)
state_event(ev, maxlen, id, 'scheduled')
wake(channel, id)
return {1, 'scheduled'}
