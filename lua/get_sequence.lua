-- get_sequence: reads one version of a sequence (the latest when none is asked for) in one
-- round trip. A caller that already holds a version passes it, and gets only the number back
-- when that is still the latest (versions never change, so it need not read them again).
--
-- KEYS[1]  <prefix>:seq:<id>      hash (see put_sequence)
-- ARGV[1]  version number, or '' for the latest
-- ARGV[2]  the latest version the caller has cached, or ''
--
-- Returns  {version, json}, or {version} when ARGV[2] is that version, or nil when the
--          sequence or that version does not exist
local key = KEYS[1]
local version = tonumber(ARGV[1])
if not version then
  version = tonumber(redis.call('HGET', key, 'latest') or '0')
end
if version <= 0 then return nil end
if ARGV[2] ~= '' and tonumber(ARGV[2]) == version then return {version} end
local json = redis.call('HGET', key, 'v' .. version)
if not json then return nil end
return {version, json}
