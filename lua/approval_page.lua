-- approval_page: one partition's share of a GET /approvals page (read only): the index size
-- and its first `count` entries in queue order, from the start or strictly after a cursor
-- (score, then instance id: the zset's own order), optionally only up to a score, optionally
-- with each entry's item JSON.
--
-- KEYS[1]  {p}:appr...      the approval index of the filter
-- KEYS[2]  {p}:appritems    hash id -> approval item JSON
-- ARGV[1]  cursor score ('' from the start)
-- ARGV[2]  cursor instance id
-- ARGV[3]  count
-- ARGV[4]  '1': return each entry's item too
-- ARGV[5]  highest score wanted ('' no limit)
--
-- Returns  {total, id, score, [item,] id, score, [item,] ...}
local index, items, after, after_id, count = KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3])
local with_items, upto = ARGV[4] == '1', ARGV[5]
if upto == '' then upto = '+inf' end
local result = {redis.call('ZCARD', index)}
if count <= 0 then return result end
local taken = 0
local function add(id, score)
  if taken >= count then return end
  taken = taken + 1
  result[#result + 1] = id
  result[#result + 1] = score
  if with_items then result[#result + 1] = redis.call('HGET', items, id) or false end
end
local function take(entries)
  for i = 1, #entries, 2 do add(entries[i], entries[i + 1]) end
end
if after == '' then
  if upto == '+inf' then
    take(redis.call('ZRANGE', index, 0, count - 1, 'WITHSCORES'))
  else
    take(redis.call('ZRANGE', index, '-inf', upto, 'BYSCORE', 'LIMIT', 0, count, 'WITHSCORES'))
  end
  return result
end
-- Byte order, as the zset orders members (Lua's < follows the server's locale).
local function bytes_after(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
-- Entries sharing the cursor's score come after it when their id sorts after the cursor's.
local ties = redis.call('ZRANGE', index, after, after, 'BYSCORE', 'WITHSCORES')
for i = 1, #ties, 2 do
  if bytes_after(ties[i], after_id) then add(ties[i], ties[i + 1]) end
end
if taken < count then
  take(redis.call('ZRANGE', index, '(' .. after, upto, 'BYSCORE', 'LIMIT', 0, count - taken, 'WITHSCORES'))
end
return result
