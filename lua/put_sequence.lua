-- put_sequence: stores a sequence definition as version N+1, unless it is identical to the
-- latest version (then nothing changes). Versions are immutable once written.
--
-- KEYS[1]  <prefix>:seq:<id>      hash: latest -> N, v<N> -> canonical JSON, tenant_id, updated_at
-- ARGV[1]  canonical JSON of the definition (sorted keys, so equal bodies are equal bytes)
-- ARGV[2]  tenant id of the sequence ('' for none)
-- ARGV[3]  now, milliseconds since the epoch
-- ARGV[4]  tenant scope of the caller ('' any): a tenant-bound key may only version its own
-- ARGV[5]  the most versions an id may have (SequenceStore.maxVersions)
--
-- Returns  {version, created}   created = 1 for a new version, 0 when identical to the latest
-- Errors   "CONFLICT ..." when the id belongs to another tenant (or to all), or already has the
--          most versions it may have (older ones are never deleted: running instances read them)
local key = KEYS[1]
local current = redis.call('HMGET', key, 'latest', 'tenant_id')
if ARGV[4] ~= '' and current[1] and current[2] ~= ARGV[4] then
  return redis.error_reply('CONFLICT sequence id is taken (not by this tenant): choose another id')
end
local latest = tonumber(current[1] or '0')
if latest > 0 and redis.call('HGET', key, 'v' .. latest) == ARGV[1] then
  return {latest, 0}
end
local version = latest + 1
local max_versions = tonumber(ARGV[5])
if max_versions and version > max_versions then
  return redis.error_reply('CONFLICT sequence has ' .. latest .. ' versions, the most one id may have; post it under a new id')
end
redis.call('HSET', key, 'v' .. version, ARGV[1], 'latest', version, 'tenant_id', ARGV[2], 'updated_at', ARGV[3])
return {version, 1}
