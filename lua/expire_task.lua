-- expire_task: a task whose worker lease expired (no heartbeat) is queued again for another
-- worker with attempt + 1. Only if the lease is still expired (a heartbeat may have just won).
-- An expiry counts as a failed attempt: once the task had its step's max_attempts, the instance
-- fails with the last error instead (a task that kills every worker is not handed out forever);
-- an escalation task ends after 3 attempts, as when it fails.
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:tasks:<handler>     zset task id -> due ms
-- KEYS[3]  {p}:tasklease           zset task id -> lease expiry ms
-- KEYS[4]  {p}:wake                shard channel
-- KEYS[5]  {p}:tasks:<handler>|<tenant>  its tenant's queue (= KEYS[2] without a tenant)
-- KEYS[6]  {p}:ev:<id>             event stream (failing the instance)
-- KEYS[7]  {p}:ready               zset id -> due ms
-- KEYS[8]  {p}:expiry              zset id -> when a finished instance's keys expire
-- KEYS[9..] the instance's other keys, to expire together when it fails
-- then     the keys the data names (the open tasks' queues, ended when the instance fails), declared;
--          their count is the last ARGV (take_declared_keys)
-- ARGV[1]  task id
-- ARGV[2]  now ms
-- ARGV[3]  handler (whose long-polling workers are woken)
-- ARGV[4]  stream maxlen
-- ARGV[5]  retention ms
--
-- Returns  1 when re-queued, 2 when the instance failed (or the escalation ended), 0 otherwise
-- Errors   "KEYS <key>..." keys to declare (nothing changed)
take_declared_keys()
local inst, tasks, tasklease, channel, ev, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], KEYS[7]
local task, now, maxlen, retention = ARGV[1], tonumber(ARGV[2]), ARGV[4], ARGV[5]
local expiry = redis.call('ZSCORE', tasklease, task)
if not expiry or tonumber(expiry) > now then return 0 end
-- Escalation tasks (<instance>~x<epoch>~<handler>, see timeout_gate.lua) keep their fields under
-- esc_* on the instance hash and do not depend on the instance's state.
local esc = string.find(task, '~x', 1, true) ~= nil
local f_id, f_worker, f_attempt = 'task_id', 'task_worker', 'task_attempt'
if esc then f_id, f_worker, f_attempt = 'esc_task', 'esc_worker', 'esc_attempt' end
local current = redis.call('HMGET', inst, f_id, 'state', 'id', f_attempt, 'task_max_attempts', 'task_block')
local attempt = tonumber(current[4]) or 1
if current[1] == task and not esc and attempt >= (tonumber(current[5]) or 1) then
  local missing = undeclared(task_queue_keys(inst, {}))
  if missing then return missing end
end
redis.call('ZREM', tasklease, task)
if current[1] ~= task or (current[2] ~= 'running' and not esc) then return 0 end
if esc and attempt >= 3 then
  redis.call('HDEL', inst, 'esc_task', 'esc_block', 'esc_handler', 'esc_params', 'esc_attempt', 'esc_worker', 'esc_queue')
  return 2
end
if not esc and attempt >= (tonumber(current[5]) or 1) then
  local id = current[3]
  local err = cjson.encode({error = 'no worker finished the task: its lease expired on attempt ' .. attempt .. ' of ' .. (current[5] or '1'),
    block_id = current[6] or '', attempts = attempt})
  drop_tasks(inst, tasklease)
  redis.call('HSET', inst, 'state', 'failed', 'updated_at', now, 'error', err)
  redis.call('ZREM', ready, id)
  record_expiry(KEYS[8], id, now, retention)
  state_event(ev, maxlen, id, 'failed')
  redis.call('PEXPIRE', inst, retention)
  for i = 6, #KEYS do
    if i ~= 7 and i ~= 8 then redis.call('PEXPIRE', KEYS[i], retention) end
  end
  wake(channel, id)
  return 2
end
redis.call('HINCRBY', inst, f_attempt, 1)
redis.call('HSET', inst, f_worker, '')
redis.call('ZADD', tasks, now, task)
if not esc then redis.call('ZADD', KEYS[5], now, task) end
redis.call('SPUBLISH', channel, current[3])
redis.call('SPUBLISH', channel, '~tasks:' .. ARGV[3])
return 1
