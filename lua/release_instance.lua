-- release_instance: a stopping runner hands back an instance it holds, due now, so another runner
-- claims it at once instead of after the lease. Only while this runner still holds it (same epoch,
-- lease entry present): a release never undoes a newer claim. The epoch moves on, so a late commit
-- of the releasing runner is fenced. Not a failed attempt: the step did not fail, its runner stopped.
-- A paused instance only loses the lease: `resume` puts it back in the ready queue.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:leases        zset id -> runner lease expiry ms
-- KEYS[3]  {p}:ready         zset id -> due ms
-- KEYS[4]  {p}:wake          shard channel
-- ARGV[1]  instance id
-- ARGV[2]  epoch the runner claimed
-- ARGV[3]  now ms
--
-- Returns  1 when released, 0 when the runner no longer held the instance
local inst, leases, ready, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, epoch, now = ARGV[1], ARGV[2], ARGV[3]
local f = redis.call('HMGET', inst, 'epoch', 'state')
if f[1] ~= epoch or (f[2] ~= 'running' and f[2] ~= 'paused') then return 0 end
if redis.call('ZREM', leases, id) == 0 then return 0 end
redis.call('HINCRBY', inst, 'epoch', 1)
if f[2] == 'running' then
  redis.call('ZADD', ready, now, id)
  wake_ready(channel, id)
end
return 1
