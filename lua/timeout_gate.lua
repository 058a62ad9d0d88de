-- timeout_gate: a sweeper found the gate's deadline passed. Taking the id out of the deadline
-- index is the claim: however many sweepers run, one acts on each deadline, once. Then
-- on_timeout applies:
--   escalate: escalated_at is recorded on the item (it stays in the queue and can still be
--             decided), an `escalation` event on the instance stream and `escalated` on the
--             approvals stream, and one escalation task is queued for its handler;
--   choose:   decided with the configured value, decided_by "timeout";
--   fail:     the item leaves the queue and the instance fails.
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:ctx:<id>        context hash
-- KEYS[3]  {p}:out:<id>        outputs hash
-- KEYS[4]  {p}:ev:<id>         event stream
-- KEYS[5]  {p}:gate:<id>       the open gate
-- KEYS[6]  {p}:ready           zset id -> due ms
-- KEYS[7]  {p}:appritems       hash id -> approval item JSON
-- KEYS[8]  {p}:deadlines       zset id -> deadline ms
-- KEYS[9]  {p}:apprev          approvals stream
-- KEYS[10] {p}:wake            shard channel
-- KEYS[11] {p}:tasklease       zset task id -> lease expiry ms
-- KEYS[12] {p}:expiry          zset id -> when a finished instance's keys expire
-- KEYS[13..] the instance's other keys, to expire together when it fails
-- then     the keys the data names (the gate's indexes and escalation queue, the open tasks'
--          queues), declared; their count is the last ARGV (take_declared_keys)
-- ARGV[1]  instance id
-- ARGV[2]  now ms
-- ARGV[3]  now, RFC 3339
-- ARGV[4]  instance stream maxlen
-- ARGV[5]  approvals stream maxlen
-- ARGV[6]  retention ms
--
-- Returns  {'escalated', task id}, {'decided', value}, {'failed', ''}; or nil when another sweeper
--          took the deadline or the gate is no longer open
-- Errors   "KEYS <key>..." keys to declare (nothing changed)
take_declared_keys()
local inst, ctx, out, ev, gate, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local items, deadlines, apprev, channel = KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local id, now, now_iso, maxlen, apprev_maxlen, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

-- Every key the outcome may touch is checked before the claim (the first write).
if not redis.call('ZSCORE', deadlines, id) then return nil end
local g = redis.call('HMGET', gate, 'block', 'on_timeout', 'choose', 'esc_handler', 'esc_queue', 'esc_params', 'tenant', 'namespace')
local needed = task_queue_keys(inst, gate_index_keys(gate, {}))
if g[2] == 'escalate' and g[5] then needed[#needed + 1] = g[5] end
local missing = undeclared(needed)
if missing then return missing end
redis.call('ZREM', deadlines, id)
local block = g[1]
if not block then return nil end
local f = redis.call('HMGET', inst, 'state', 'gates', 'epoch')
local state = f[1]
if state ~= 'waiting' and state ~= 'paused' then return nil end

if g[2] == 'escalate' then
  local item = redis.call('HGET', items, id)
  local open = ',"escalated_at":null}'
  if item and string.sub(item, -#open) == open then
    item = string.sub(item, 1, #item - #open) .. ',"escalated_at":"' .. now_iso .. '"}'
    redis.call('HSET', items, id, item)
  end
  redis.call('HSET', gate, 'escalated_at', now_iso)
  local handler = g[4]
  emit(ev, maxlen, 'escalation', '{"block_id":' .. cjson.encode(block) .. ',"handler":' .. cjson.encode(handler) ..
    ',"escalated_at":"' .. now_iso .. '"}')
  approval_event(apprev, apprev_maxlen, channel, 'escalated', g[7], g[8], item or '{}')
  -- The task id has the shape TaskStore.TaskID reads: <instance>~x<epoch>~<handler>.
  local task = id .. '~x' .. f[3] .. '~' .. handler
  local params = g[6]
  if params == '' then params = item or '{}' end
  -- One escalation task per instance: an earlier gate's that is still open ends (its queue is
  -- recorded with it, so that a cancel, delete or finish can take it out of the queue too).
  drop_escalation(inst, KEYS[11])
  redis.call('HSET', inst, 'esc_task', task, 'esc_block', block, 'esc_handler', handler, 'esc_params', params,
    'esc_attempt', 1, 'esc_worker', '', 'esc_queue', g[5])
  redis.call('ZADD', g[5], now, task)
  wake(channel, id)
  redis.call('SPUBLISH', channel, '~tasks:' .. handler)
  return {'escalated', task}
end

local def = gate_definition(f[2], block)
close_gate(gate, items, deadlines, apprev, apprev_maxlen, channel, id, 'timed_out', 'timeout')
if g[2] == 'choose' then
  record_decision(inst, ctx, out, ev, ready, maxlen, id, def, block, g[3], cjson.encode({value = g[3]}), 'timeout', '', now, now_iso, state)
  wake_ready(channel, id)
  return {'decided', g[3]}
end
local err = '{"error":"approval timed out","block_id":' .. cjson.encode(block) .. '}'
redis.call('HSET', inst, 'state', 'failed', 'updated_at', now, 'error', err)
redis.call('ZREM', ready, id)
drop_tasks(inst, KEYS[11])
record_expiry(KEYS[12], id, now, retention)
state_event(ev, maxlen, id, 'failed', 'timeout')
for i = 1, #KEYS do
  if i <= 5 or i >= 13 then redis.call('PEXPIRE', KEYS[i], retention) end
end
wake(channel, id)
return {'failed', ''}
