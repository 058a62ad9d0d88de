-- requeue_expired: an instance whose runner lease expired (the runner died or stalled) is due
-- again. Only moves it if the lease is still expired, so a runner that just renewed keeps it.
--
-- KEYS[1]  {p}:leases        zset id -> lease expiry ms
-- KEYS[2]  {p}:ready         zset id -> due ms
-- ARGV[1]  instance id
-- ARGV[2]  now ms
--
-- Returns  1 when moved to the ready queue, 0 otherwise
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
