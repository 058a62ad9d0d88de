-- approval_page: one partition's share of a GET /approvals page (read only): the index size
-- and the first `count` entries in queue order, from the start or strictly after a cursor
-- (score, then instance id: the zset's own order).
--
-- KEYS[1]  {p}:appr...      the approval index of the filter
-- ARGV[1]  cursor score ('' from the start)
-- ARGV[2]  cursor instance id
-- ARGV[3]  count
--
-- Returns  {total, id, score, id, score, ...}
local index, after, after_id, count = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local result = {redis.call('ZCARD', index)}
if count <= 0 then return result end
local function take(entries)
  for i = 1, #entries, 2 do
    if (#result - 1) / 2 >= count then return end
    result[#result + 1] = entries[i]
    result[#result + 1] = entries[i + 1]
  end
end
if after == '' then
  take(redis.call('ZRANGE', index, 0, count - 1, 'WITHSCORES'))
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
  if bytes_after(ties[i], after_id) and (#result - 1) / 2 < count then
    result[#result + 1] = ties[i]
    result[#result + 1] = ties[i + 1]
  end
end
local left = count - (#result - 1) / 2
if left > 0 then take(redis.call('ZRANGE', index, '(' .. after, '+inf', 'BYSCORE', 'LIMIT', 0, left, 'WITHSCORES')) end
return result
