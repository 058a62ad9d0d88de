-- trim_expired: the listing index keeps an entry per instance, but a finished instance's keys
-- expire (PEXPIRE at finish) and Redis cannot expire a zset member. The finishing scripts record
-- when the keys expire in the partition's expiry index; once that time has passed, the sweeper
-- runs this for the instance: its listing entry goes when its keys are gone. A bounded amount of
-- work per sweep, proportional to what expired, not to how many instances are listed.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:idx           zset id -> created ms (instance listing)
-- KEYS[3]  {p}:expiry        zset id -> when the finished instance's keys expire (ms)
-- ARGV[1]  instance id
-- ARGV[2]  now ms
--
-- Returns  1 when the listing entry was removed, 0 otherwise (not due, restored, or an instance
--          of the same id created since: its entry stays)
local inst, idx, expiry = KEYS[1], KEYS[2], KEYS[3]
local id, now = ARGV[1], tonumber(ARGV[2])
local due = redis.call('ZSCORE', expiry, id)
if not due or tonumber(due) > now then return 0 end
local ttl = redis.call('PTTL', inst)
if ttl == -2 then
  redis.call('ZREM', idx, id)
  redis.call('ZREM', expiry, id)
  return 1
end
if ttl == -1 then
  -- Lives (restored, or a new instance of that id): nothing expires.
  redis.call('ZREM', expiry, id)
  return 0
end
-- Not expired yet (a process clock behind Redis's): look again when it should be.
redis.call('ZADD', expiry, now + ttl, id)
return 0
