-- approvals-populate: bench/approvals (S3) only — puts pending approval items straight into a
-- partition's queue structures, doing to them exactly what lua/enter_gate.lua does when a runner
-- opens a gate: ZADD the instance id into every approval index of the item with the index score,
-- HSET the item JSON into the partition's item hash, and ZADD the deadline (when there is one)
-- into the partition's deadline set. The instance hashes, gate hashes and the approvals stream
-- are not written: GET /approvals reads only the indexes and the item hash.
-- Called by bench/approvals-populate.py (through redis-cli --pipe), one call per partition and
-- index set, so every call touches one hash slot (cluster-shaped) like the real script.
--
-- KEYS[1]  {p}:appritems   hash id -> approval item JSON
-- KEYS[2]  {p}:deadlines   zset id -> deadline ms
-- KEYS[3..] the items' approval indexes: {p}:appr, {p}:appr:t:<tenant>, {p}:appr:n:<ns>,
--          {p}:appr:tn:<tenant>|<ns> (the KEYS[13..] of enter_gate.lua)
-- ARGV     repeated per item: instance id, index score (deadline ms, or 1e13 + waiting_since ms
--          without a deadline), deadline ms ('' without one), item JSON
--
-- Returns  the number of items written
local items, deadlines = KEYS[1], KEYS[2]
for i = 1, #ARGV, 4 do
  local id, score, deadline, item = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  for k = 3, #KEYS do redis.call('ZADD', KEYS[k], score, id) end
  redis.call('HSET', items, id, item)
  if deadline ~= '' then redis.call('ZADD', deadlines, deadline, id) end
end
return #ARGV / 4
