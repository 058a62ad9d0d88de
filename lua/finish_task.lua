-- finish_task: a worker reports a task complete or failed. Applied only while that worker holds
-- the task's lease (else CONFLICT and nothing changes).
--   complete: the output becomes the step output, the context patch is merged, the instance
--             goes on with the next block (or completes).
--   fail:     retried per the block's retry policy (the task is queued again after a backoff),
--             otherwise the instance fails.
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:ctx:<id>            context hash
-- KEYS[3]  {p}:out:<id>            outputs hash
-- KEYS[4]  {p}:ev:<id>             event stream
-- KEYS[5]  {p}:ready               zset id -> due ms
-- KEYS[6]  {p}:tasks:<handler>     zset task id -> due ms
-- KEYS[7]  {p}:tasklease           zset task id -> lease expiry ms
-- KEYS[8]  {p}:wake                shard channel
-- KEYS[9]  {p}:tasks:<handler>|<tenant>  its tenant's queue (= KEYS[6] without a tenant)
-- KEYS[10] {p}:expiry              zset id -> when a finished instance's keys expire
-- KEYS[11..] the instance's other keys, to expire together when it finishes
-- then     the instance's escalation queue (ended when the instance finishes), declared; its count
--          is the last ARGV (take_declared_keys)
-- ARGV[1]  task id
-- ARGV[2]  worker id
-- ARGV[3]  now ms
-- ARGV[4]  stream maxlen
-- ARGV[5]  retention ms
-- ARGV[6]  complete | fail
-- ARGV[7]  complete: output JSON;  fail: error message
-- ARGV[8]  complete: RFC 3339 time of the output;  fail: '1' when retryable
-- ARGV[9]  tenant scope of the worker ('' any): another tenant's task is not found
-- ARGV[10] by: the principal (key name) reporting, on the events it causes
-- ARGV[11] number of context key/value pairs to merge (complete), followed by the pairs
--
-- Escalation tasks (<instance>~x<epoch>~<handler>) only end (or are retried); the instance
-- is not touched.
--
-- Returns  the instance state afterwards
-- Errors   "CONFLICT lease lost", "NOTFOUND task not found", "KEYS <key>..." keys to declare,
--          "INVALID arguments ..." when ARGV[11] disagrees with the pairs given (nothing changes),
--          "TOOLARGE ..." when the context patch would take the context over its limit (nothing changes)
take_declared_keys()
local inst, ctx, out, ev, ready, tasks, tasklease, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local task, worker, now, maxlen, retention, action = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local by = ARGV[10]
-- Every check before the first write (the lease goes first): a failure after it would leave the
-- instance `running` with no task lease, forever.
local pairs_count = 0
if action == 'complete' then pairs_count = pair_count(11) end
if not pairs_count then return redis.error_reply('INVALID arguments context pair count does not match the pairs given') end
if ARGV[9] ~= '' and redis.call('HGET', inst, 'tenant_id') ~= ARGV[9] then return redis.error_reply('NOTFOUND task not found') end
if string.find(task, '~x', 1, true) then
  -- An escalation task (see timeout_gate.lua): done, or tried again up to 3 times; the
  -- instance itself does not change.
  local e = redis.call('HMGET', inst, 'esc_task', 'esc_worker', 'esc_attempt', 'state')
  local expiry = redis.call('ZSCORE', tasklease, task)
  if e[1] ~= task or e[2] ~= worker or not expiry or tonumber(expiry) < now then
    return redis.error_reply('CONFLICT lease lost')
  end
  local attempt = tonumber(e[3]) or 1
  redis.call('ZREM', tasklease, task)
  if action == 'fail' and ARGV[8] == '1' and attempt < 3 then
    redis.call('HSET', inst, 'esc_attempt', attempt + 1, 'esc_worker', '')
    redis.call('ZADD', tasks, now + 1000 * 2 ^ (attempt - 1), task)
  else
    redis.call('HDEL', inst, 'esc_task', 'esc_block', 'esc_handler', 'esc_params', 'esc_attempt', 'esc_worker', 'esc_queue')
  end
  return e[4]
end

local f = redis.call('HMGET', inst, 'task_id', 'task_worker', 'state', 'id', 'task_block', 'task_attempt',
  'task_next_index', 'task_next_block', 'task_max_attempts', 'task_backoff_ms', 'task_multiplier')
local expiry = redis.call('ZSCORE', tasklease, task)
if f[1] ~= task or f[2] ~= worker or f[3] ~= 'running' or not expiry or tonumber(expiry) < now then
  return redis.error_reply('CONFLICT lease lost')
end
local id, block, attempt = f[4], f[5], tonumber(f[6])
local max_attempts, backoff, multiplier = tonumber(f[9]), tonumber(f[10]), tonumber(f[11])
if not attempt or not max_attempts or not backoff or not multiplier then
  return redis.error_reply('ERR task ' .. task .. ' has unreadable retry fields')
end
if action == 'complete' then
  local overflow = context_overflow(inst, ctx, 12, #ARGV)
  if overflow then return redis.error_reply(overflow) end
end
local retried = action == 'fail' and ARGV[8] == '1' and attempt < max_attempts
if not retried and (action == 'fail' or f[8] == '') then
  local e = redis.call('HMGET', inst, 'esc_task', 'esc_queue')
  local missing = undeclared(e[1] and e[2] and {e[2]} or {})
  if missing then return missing end
end
redis.call('ZREM', tasklease, task)

local function clear_task()
  redis.call('HDEL', inst, 'task_id', 'task_block', 'task_handler', 'task_params', 'task_attempt', 'task_next_index',
    'task_next_block', 'task_max_attempts', 'task_backoff_ms', 'task_multiplier', 'task_worker', 'task_queues')
end

local function finish(final, err)
  clear_task()
  drop_escalation(inst, tasklease)
  record_expiry(KEYS[10], id, now, retention)
  redis.call('HSET', inst, 'state', final, 'updated_at', now, 'error', err)
  redis.call('ZREM', ready, id)
  state_event(ev, maxlen, id, final, by)
  for i = 1, #KEYS do
    if i < 5 or i > 10 then redis.call('PEXPIRE', KEYS[i], retention) end
  end
  wake(channel, id)
  return final
end

if action == 'fail' then
  local err = '{"error":' .. cjson.encode(ARGV[7]) .. ',"block_id":' .. cjson.encode(block) .. ',"attempts":' .. attempt .. '}'
  if ARGV[8] == '1' and attempt < max_attempts then
    -- At most a day, as RetryPolicy.delay: 100 attempts at x10 would otherwise be ~1e100 ms.
    local delay = math.min(backoff * (multiplier ^ (attempt - 1)), 86400000)
    redis.call('HSET', inst, 'task_attempt', attempt + 1, 'task_worker', '', 'last_error', err, 'updated_at', now)
    redis.call('ZADD', tasks, now + math.floor(delay), task)
    redis.call('ZADD', KEYS[9], now + math.floor(delay), task)
    wake(channel, id)
    return 'running'
  end
  return finish('failed', err)
end

hset_pairs(ctx, ARGV, 12, #ARGV)
local n = redis.call('HINCRBY', inst, 'outputs', 1)
local record = '{"block_id":' .. cjson.encode(block) .. ',"output":' .. ARGV[7] .. ',"created_at":"' .. ARGV[8] .. '"'
redis.call('HSET', out, block, record .. ',"n":' .. n .. '}')
emit(ev, maxlen, 'output', record .. ',"by":' .. cjson.encode(by) .. '}')
local next_block = f[8]
redis.call('HSET', inst, 'block_index', f[7], 'current_block', next_block, 'attempt', 0)
if next_block == '' then return finish('completed', '') end
clear_task()
redis.call('HSET', inst, 'state', 'scheduled', 'updated_at', now)
redis.call('ZADD', ready, now, id)
state_event(ev, maxlen, id, 'scheduled', by)
wake_ready(channel, id)
return 'scheduled'
