-- claim_instance: a runner takes a due instance from the ready queue: lease until now+lease_ms,
-- epoch + 1 (the fencing token its commits must carry), state `running`.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:ctx:<id>      context hash
-- KEYS[3]  {p}:out:<id>      outputs hash
-- KEYS[4]  {p}:ev:<id>       event stream
-- KEYS[5]  {p}:ready         zset id -> due ms
-- KEYS[6]  {p}:leases        zset id -> lease expiry ms
-- KEYS[7]  {p}:wake          shard channel
-- ARGV[1]  instance id
-- ARGV[2]  now ms
-- ARGV[3]  lease ms
-- ARGV[4]  stream maxlen
--
-- Returns  {epoch, instance fields (HGETALL), context (HGETALL), outputs (HGETALL)},
--          or nil when the instance is not due (already claimed, not yet due, paused, gone)
local inst, ctx, out, ev, ready, leases, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local id, now, lease, maxlen = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local due = redis.call('ZSCORE', ready, id)
if not due or tonumber(due) > now then return nil end
redis.call('ZREM', ready, id)
local state = redis.call('HGET', inst, 'state')
if state ~= 'scheduled' and state ~= 'running' then return nil end
local epoch = redis.call('HINCRBY', inst, 'epoch', 1)
redis.call('ZADD', leases, now + lease, id)
if state ~= 'running' then
  redis.call('HSET', inst, 'state', 'running', 'updated_at', now)
  state_event(ev, maxlen, id, 'running')
  wake(channel, id)
end
return {epoch, redis.call('HGETALL', inst), redis.call('HGETALL', ctx), redis.call('HGETALL', out)}
