-- signal_instance: applies a control signal to an instance: cancel, pause, resume or
-- update_context, with its state event when the state changes.
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:ctx:<id>      context hash
-- KEYS[3]  {p}:ev:<id>       event stream
-- KEYS[4]  {p}:ready         zset id -> due ms
-- KEYS[5]  {p}:leases        zset id -> runner lease expiry
-- KEYS[6]  {p}:wake          shard channel
-- KEYS[7]  {p}:gate:<id>     the open gate (closed when cancelled)
-- KEYS[8]  {p}:appritems     hash id -> approval item JSON
-- KEYS[9]  {p}:deadlines     zset id -> deadline ms
-- KEYS[10] {p}:apprev        approvals stream
-- KEYS[11] {p}:tasklease     zset task id -> lease expiry ms (a cancelled instance's tasks end)
-- KEYS[12] {p}:expiry        zset id -> when a finished instance's keys expire
-- KEYS[13..] the instance's other keys, to expire together when cancelled
-- KEYS[..] then the last ARGV: the keys the data names, declared (take_declared_keys): the open
--          gate's indexes and the open tasks' queues, which a cancel clears
-- ARGV[1]  instance id
-- ARGV[2]  now ms
-- ARGV[3]  stream maxlen
-- ARGV[4]  retention ms
-- ARGV[5]  signal: cancel | pause | resume | update_context
-- ARGV[6]  approvals stream maxlen
-- ARGV[7]  signal id
-- ARGV[8]  Idempotency-Key ('' none)
-- ARGV[9]  tenant scope of the caller ('' any)
-- ARGV[10] by: the principal sending the signal
-- ARGV[11..] context key/value pairs (update_context)
--
-- Returns  {state after the signal, signal id}; for a repeated Idempotency-Key the first
--          signal's {'replayed', signal id} and nothing changes
-- Errors   "KEYS <key>..." keys to declare (nothing changed), "NOTFOUND", "CONFLICT <why>",
--          "TOOLARGE ..." update_context would take the context over its limit (nothing changes),
--          "INVALID Idempotency-Key ..." the key was first used for another signal (decide_gate
--          shares the `idem:<key>` fields: `<signal>|<status>|<signal id>|<n>`, at most
--          IDEMPOTENCY_KEYS_KEPT of them, see prelude.lua)
take_declared_keys()
local inst, ctx, ev, ready, leases, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local gate, items, deadlines, apprev = KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local id, now, maxlen, retention, signal = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local apprev_maxlen, signal_id, idempotency, scope, by = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local current = redis.call('HMGET', inst, 'state', 'paused_from', 'idem:' .. idempotency, 'tenant_id')
local state = current[1]
if not state or (scope ~= '' and current[4] ~= scope) then return redis.error_reply('NOTFOUND instance not found') end
if idempotency ~= '' and current[3] then
  local first, _, first_id = string.match(current[3], '^([^|]*)|([^|]*)|([^|]*)')
  if first ~= signal then
    return redis.error_reply('INVALID Idempotency-Key Idempotency-Key was first used for signal ' .. tostring(first) ..
      ' of this instance; use a new key for a different signal')
  end
  return {'replayed', first_id}
end
if state == 'completed' or state == 'failed' or state == 'cancelled' then
  return redis.error_reply('CONFLICT instance is ' .. state)
end

local function applied(new_state)
  if idempotency ~= '' then remember_idempotency(inst, idempotency, signal, 'applied', signal_id) end
  return {new_state, signal_id}
end

local function set_state(new_state)
  redis.call('HSET', inst, 'state', new_state, 'updated_at', now)
  state_event(ev, maxlen, id, new_state, by)
  wake(channel, id)
  return new_state
end

if signal == 'update_context' then
  local overflow = context_overflow(inst, ctx, 11, #ARGV)
  if overflow then return redis.error_reply(overflow) end
  hset_pairs(ctx, ARGV, 11, #ARGV)
  redis.call('HSET', inst, 'updated_at', now)
  return applied(state)
elseif signal == 'cancel' then
  local missing = undeclared(task_queue_keys(inst, gate_index_keys(gate, {})))
  if missing then return missing end
  redis.call('ZREM', ready, id)
  redis.call('ZREM', leases, id)
  close_gate(gate, items, deadlines, apprev, apprev_maxlen, channel, id, 'cancelled', by)
  drop_tasks(inst, KEYS[11])
  record_expiry(KEYS[12], id, now, retention)
  set_state('cancelled')
  for i = 1, #KEYS do
    if i <= 3 or i == 7 or i >= 13 then redis.call('PEXPIRE', KEYS[i], retention) end
  end
  return applied('cancelled')
elseif signal == 'pause' then
  if state == 'paused' then return redis.error_reply('CONFLICT instance is already paused') end
  redis.call('ZREM', ready, id)
  redis.call('HSET', inst, 'paused_from', state)
  return applied(set_state('paused'))
elseif signal == 'resume' then
  if state ~= 'paused' then return redis.error_reply('CONFLICT instance is ' .. state .. ', not paused') end
  local from = current[2] or 'scheduled'
  if from == 'waiting' then return applied(set_state('waiting')) end
  -- Back to the ready queue; a runner still holding it loses the lease (its commit is fenced).
  redis.call('ZREM', leases, id)
  redis.call('ZADD', ready, now, id)
  redis.call('HINCRBY', inst, 'epoch', 1)
  set_state('scheduled')
  wake_ready(channel, id)
  return applied('scheduled')
end
return redis.error_reply('CONFLICT unknown signal ' .. signal)
