-- renew_lease: a runner still running a block extends its lease on the instance, so a step that
-- runs longer than the lease is not given to a second runner meanwhile (double execution). Only
-- while the runner holds the instance: same epoch, running or paused, lease entry present.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:leases        zset id -> runner lease expiry ms
-- ARGV[1]  instance id
-- ARGV[2]  epoch the runner claimed
-- ARGV[3]  new lease expiry ms
--
-- Returns  1 when renewed, 0 when the runner no longer holds the instance
local f = redis.call('HMGET', KEYS[1], 'epoch', 'state')
if f[1] ~= ARGV[2] or (f[2] ~= 'running' and f[2] ~= 'paused') then return 0 end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return 1
