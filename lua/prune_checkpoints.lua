-- prune_checkpoints: keeps the `keep` newest checkpoints of an instance and deletes the rest,
-- from the list and the hash together. Idempotent: nothing to delete answers 0.
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:cp:<id>         list of checkpoint ids, oldest first
-- KEYS[3]  {p}:cpd:<id>        hash checkpoint id -> record JSON
-- ARGV[1]  keep (>= 0)
-- ARGV[2]  tenant scope of the caller ('' any)
--
-- Returns  how many checkpoints were deleted
-- Errors   "NOTFOUND instance not found"
local inst, cp, cpd = KEYS[1], KEYS[2], KEYS[3]
local keep = tonumber(ARGV[1])
local tenant = redis.call('HMGET', inst, 'state', 'tenant_id')
if not tenant[1] or (ARGV[2] ~= '' and tenant[2] ~= ARGV[2]) then return redis.error_reply('NOTFOUND instance not found') end
local count = redis.call('LLEN', cp)
if count <= keep then return 0 end
local dropped = redis.call('LRANGE', cp, 0, count - keep - 1)
for i = 1, #dropped, 1000 do
  redis.call('HDEL', cpd, unpack(dropped, i, math.min(i + 999, #dropped)))
end
-- A positive start: LTRIM with -0 would keep everything.
redis.call('LTRIM', cp, count - keep, -1)
return #dropped
