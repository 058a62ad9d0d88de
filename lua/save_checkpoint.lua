-- save_checkpoint: stores a checkpoint of an instance with an engine snapshot (state, sequence
-- version, block position, context) taken in the same script, so the snapshot is exactly the
-- instance at that moment. Beyond the cap the oldest checkpoints go, from the list and the hash.
--
-- The id is a UUIDv7 made here: the time, then a 12-bit counter that continues the newest id's
-- when the clock has not moved past it, so ids sort in list order (the order of the saves).
--
-- The record is JSON built by concatenation (user data is never decoded):
--   {"id","instance_id","created_at","snapshot":{"state","sequence_version","block_index",
--    "current_block","context_layout":[key length, value length, ...],"context":{...}},
--    "checkpoint_data":...}
-- Everything before "context" is ours (ids, numbers), so restore_checkpoint finds the layout with
-- a pattern and cuts the context into its hash fields exactly, without a JSON parser.
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:ctx:<id>        context hash (top-level key -> JSON text)
-- KEYS[3]  {p}:cp:<id>         list of checkpoint ids, oldest first
-- KEYS[4]  {p}:cpd:<id>        hash checkpoint id -> record JSON
-- ARGV[1]  instance id
-- ARGV[2]  now ms
-- ARGV[3]  RFC 3339 time of now
-- ARGV[4]  the id's random tail: 'vrrr-rrrrrrrrrrrr' (variant nibble first, 17 characters)
-- ARGV[5]  cap: checkpoints kept per instance
-- ARGV[6]  checkpoint_data JSON
-- ARGV[7]  tenant scope of the caller ('' any)
--
-- Returns  the checkpoint id
-- Errors   "NOTFOUND instance not found"
local inst, ctx, cp, cpd = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, now, created_at, tail, cap = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local f = redis.call('HMGET', inst, 'state', 'sequence_version', 'block_index', 'current_block', 'tenant_id')
if not f[1] or (ARGV[7] ~= '' and f[5] ~= ARGV[7]) then return redis.error_reply('NOTFOUND instance not found') end

-- UUIDv7: 48-bit ms, version 7, 12-bit counter, then the caller's random variant + 62 bits.
local ms, counter = now, 0
local newest = redis.call('LINDEX', cp, -1)
if newest then
  local newest_ms = tonumber(string.sub(newest, 1, 8) .. string.sub(newest, 10, 13), 16)
  local newest_counter = tonumber(string.sub(newest, 16, 18), 16)
  if newest_ms and newest_counter and ms <= newest_ms then
    ms, counter = newest_ms, newest_counter + 1
    if counter > 4095 then ms, counter = newest_ms + 1, 0 end
  end
end
local hex = string.format('%06x%06x', math.floor(ms / 16777216), ms % 16777216)
local cp_id = string.sub(hex, 1, 8) .. '-' .. string.sub(hex, 9, 12) .. '-7' .. string.format('%03x', counter) .. '-' .. tail

local pairs_list = redis.call('HGETALL', ctx)
local layout, parts = {}, {}
for i = 1, #pairs_list, 2 do
  local key = cjson.encode(pairs_list[i])
  layout[#layout + 1] = #key .. ',' .. #pairs_list[i + 1]
  parts[#parts + 1] = key .. ':' .. pairs_list[i + 1]
end
local record = '{"id":"' .. cp_id .. '","instance_id":' .. cjson.encode(id) .. ',"created_at":"' .. created_at ..
  '","snapshot":{"state":"' .. f[1] .. '","sequence_version":' .. (f[2] or '0') .. ',"block_index":' .. (f[3] or '0') ..
  ',"current_block":' .. cjson.encode(f[4] or '') .. ',"context_layout":[' .. table.concat(layout, ',') ..
  '],"context":{' .. table.concat(parts, ',') .. '}},"checkpoint_data":' .. ARGV[6] .. '}'

local count = redis.call('RPUSH', cp, cp_id)
redis.call('HSET', cpd, cp_id, record)
if count > cap then
  -- Drop the oldest from the hash and the list together (in chunks: unpack has a stack limit).
  local dropped = redis.call('LRANGE', cp, 0, count - cap - 1)
  for i = 1, #dropped, 1000 do
    redis.call('HDEL', cpd, unpack(dropped, i, math.min(i + 999, #dropped)))
  end
  redis.call('LTRIM', cp, count - cap, -1)
end

-- A finished instance is already expiring: its checkpoints go with it.
local ttl = redis.call('PTTL', inst)
if ttl > 0 then
  redis.call('PEXPIRE', cp, ttl)
  redis.call('PEXPIRE', cpd, ttl)
end
return cp_id
