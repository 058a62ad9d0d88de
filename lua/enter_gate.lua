-- enter_gate: a runner reached a human_input block: the instance waits (state `waiting`) and
-- the approval item joins the queue's indexes, with its deadline and an `added` event. If a
-- decision for this gate arrived early (the inbox), it is applied at once instead.
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:ctx:<id>        context hash
-- KEYS[3]  {p}:out:<id>        outputs hash
-- KEYS[4]  {p}:ev:<id>         event stream
-- KEYS[5]  {p}:gate:<id>       the open gate
-- KEYS[6]  {p}:inbox:<id>      early decisions by block id
-- KEYS[7]  {p}:ready           zset id -> due ms
-- KEYS[8]  {p}:leases          zset id -> runner lease expiry
-- KEYS[9]  {p}:appritems       hash id -> approval item JSON
-- KEYS[10] {p}:deadlines       zset id -> deadline ms
-- KEYS[11] {p}:apprev          approvals stream
-- KEYS[12] {p}:wake            shard channel
-- KEYS[13..] the approval indexes of the item ({p}:appr and the tenant / namespace ones)
-- ARGV[1]  instance id
-- ARGV[2]  epoch the runner claimed
-- ARGV[3]  now ms
-- ARGV[4]  now, RFC 3339
-- ARGV[5]  instance stream maxlen
-- ARGV[6]  approvals stream maxlen
-- ARGV[7]  block id
-- ARGV[8]  index score (deadline ms, or 1e13 + waiting_since ms without a deadline)
-- ARGV[9]  deadline ms ('' without a timeout)
-- ARGV[10] approval item JSON (ends with "escalated_at":null})
-- ARGV[11] tenant ('' none)
-- ARGV[12] namespace ('' none)
-- ARGV[13] on_timeout: escalate | fail | choose
-- ARGV[14] the value chosen on timeout (choose)
-- ARGV[15] escalation handler ('' none)
-- ARGV[16] escalation task queue key
-- ARGV[17] escalation task params JSON
--
-- Returns  the state afterwards: 'waiting', or 'scheduled' / 'paused' when an early decision applied
-- Errors   "FENCED ..." when the runner no longer holds the instance
local inst, ctx, out, ev, gate, inbox, ready, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local items, deadlines, apprev, channel = KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local id, epoch, now, now_iso, maxlen, apprev_maxlen, block = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

local f = redis.call('HMGET', inst, 'epoch', 'state', 'gates')
if f[1] ~= epoch then return redis.error_reply('FENCED epoch ' .. tostring(f[1]) .. ' is newer than ' .. epoch) end
local state = f[2]
if state ~= 'running' and state ~= 'paused' then return redis.error_reply('FENCED instance is ' .. tostring(state)) end
local def = gate_definition(f[3], block)
if not def then return redis.error_reply('FENCED ' .. block .. ' is not a gate of this instance') end
redis.call('ZREM', leases, id)
-- A gate entered again (after a checkpoint restore) is open again.
redis.call('HDEL', inst, 'decision:' .. block)

local early = redis.call('HMGET', inbox, 's:' .. block, 'v:' .. block, 'p:' .. block, 'by:' .. block)
if early[1] then
  redis.call('HDEL', inbox, 's:' .. block, 'v:' .. block, 'p:' .. block, 'by:' .. block)
  record_decision(inst, ctx, out, ev, ready, maxlen, id, def, block, early[2], early[3], early[4], early[1], now, now_iso, state)
  wake_ready(channel, id)
  return state == 'paused' and 'paused' or 'scheduled'
end

local indexes = {}
for i = 13, #KEYS do
  indexes[#indexes + 1] = KEYS[i]
  redis.call('ZADD', KEYS[i], ARGV[8], id)
end
redis.call('HSET', gate, 'block', block, 'indexes', table.concat(indexes, '\n'), 'tenant', ARGV[11], 'namespace', ARGV[12],
  'deadline', ARGV[9], 'on_timeout', ARGV[13], 'choose', ARGV[14], 'esc_handler', ARGV[15], 'esc_queue', ARGV[16],
  'esc_params', ARGV[17])
redis.call('HSET', items, id, ARGV[10])
if ARGV[9] ~= '' then redis.call('ZADD', deadlines, ARGV[9], id) end
approval_event(apprev, apprev_maxlen, channel, 'added', ARGV[11], ARGV[12], ARGV[10])
redis.call('HSET', inst, 'current_block', block, 'updated_at', now)
if state == 'paused' then
  redis.call('HSET', inst, 'paused_from', 'waiting')
  wake(channel, id)
  return 'paused'
end
redis.call('HSET', inst, 'state', 'waiting')
state_event(ev, maxlen, id, 'waiting')
wake(channel, id)
return 'waiting'
