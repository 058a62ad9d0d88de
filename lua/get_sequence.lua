-- get_sequence: reads one version of a sequence (the latest when none is asked for) in one
-- round trip.
--
-- KEYS[1]  <prefix>:seq:<id>      hash (see put_sequence)
-- ARGV[1]  version number, or '' for the latest
--
-- Returns  {version, json}, or nil when the sequence or that version does not exist
local key = KEYS[1]
local version = tonumber(ARGV[1])
if not version then
  version = tonumber(redis.call('HGET', key, 'latest') or '0')
end
if version <= 0 then return nil end
local json = redis.call('HGET', key, 'v' .. version)
if not json then return nil end
return {version, json}
