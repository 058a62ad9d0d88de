-- init_meta: called by every process at start. Records the deployment's partition count and
-- schema version the first time, and refuses a process configured with a different partition
-- count (instances are placed by `crc32(id) mod partitions`, so the count is fixed for life).
--
-- KEYS[1]  <prefix>:meta                  hash
-- ARGV[1]  configured partition count
-- ARGV[2]  schema version of this binary
-- ARGV[3]  now, milliseconds since the epoch
--
-- Returns  {partitions, schema_version, created}   created = 1 when this call initialised meta
-- Errors   "PARTITIONS <stored> <configured>"       partition count differs from the recorded one
--          "SCHEMA <stored> <supported>"            data written by another schema version (older
--                                                   layouts are not read: keys differ)
local meta = KEYS[1]
local stored = redis.call('HGET', meta, 'partitions')
if not stored then
  redis.call('HSET', meta, 'partitions', ARGV[1], 'schema_version', ARGV[2], 'created_at', ARGV[3])
  return {tonumber(ARGV[1]), tonumber(ARGV[2]), 1}
end
if stored ~= ARGV[1] then
  return redis.error_reply('PARTITIONS ' .. stored .. ' ' .. ARGV[1])
end
local version = tonumber(redis.call('HGET', meta, 'schema_version') or '0')
if version ~= tonumber(ARGV[2]) then
  return redis.error_reply('SCHEMA ' .. version .. ' ' .. ARGV[2])
end
return {tonumber(stored), version, 0}
