-- requeue_expired: an instance whose runner lease expired (the runner died or stalled) is due
-- again. Only moves it if the lease is still expired, so a runner that just renewed keeps it.
-- A runner renews its lease while a step runs (renew_lease), so an expiry means the runner died
-- (or stalled) running the current block: that counts as a failed attempt of it (a step that
-- kills every runner would otherwise be retried forever; the runner fails the instance once the
-- attempts reach the step's max_attempts).
--
-- KEYS[1]  {p}:leases        zset id -> lease expiry ms
-- KEYS[2]  {p}:ready         zset id -> due ms
-- KEYS[3]  {p}:i:<id>        instance hash
-- ARGV[1]  instance id
-- ARGV[2]  now ms
--
-- Returns  1 when moved to the ready queue, 0 otherwise
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local f = redis.call('HMGET', KEYS[3], 'state', 'current_block')
if f[1] == 'running' then
  local attempt = redis.call('HINCRBY', KEYS[3], 'attempt', 1)
  redis.call('HSET', KEYS[3], 'last_error', cjson.encode({
    error = 'the runner running this block stopped (its lease expired)', block_id = f[2] or '', attempts = attempt}))
end
return 1
