-- commit_block: a runner's result for the current block, applied only if it still holds the
-- instance (epoch matches and state is `running`; else FENCED and nothing changes).
--
-- KEYS[1]  {p}:i:<id>        instance hash
-- KEYS[2]  {p}:ctx:<id>      context hash
-- KEYS[3]  {p}:out:<id>      outputs hash
-- KEYS[4]  {p}:ev:<id>       event stream
-- KEYS[5]  {p}:ready         zset id -> due ms
-- KEYS[6]  {p}:leases        zset id -> lease expiry ms
-- KEYS[7]  {p}:wake          shard channel
-- KEYS[8]  {p}:tasklease     zset task id -> lease expiry ms (a finished instance's escalation task ends)
-- KEYS[9]  {p}:expiry        zset id -> when a finished instance's keys expire
-- KEYS[10..] the instance's other keys, to expire together when it finishes
-- then     the instance's task queues (ended when it finishes), declared; their count is the last
--          ARGV (take_declared_keys in prelude.lua)
-- ARGV[1]  instance id
-- ARGV[2]  epoch the runner claimed
-- ARGV[3]  now ms
-- ARGV[4]  stream maxlen
-- ARGV[5]  retention ms (terminal instances expire after it)
-- ARGV[6]  lease ms (extension while the runner continues)
-- ARGV[7]  mode: continue | schedule | complete | retry | fail
-- ARGV[8]  number of outputs K (0 or more: built-in steps with no side effects, run one after
--          another, are committed together)
-- ARGV[9]  RFC 3339 time of the outputs
-- ARGV[10] next block index
-- ARGV[11] next block id ('' when none)
-- ARGV[12] due ms for schedule / retry
-- ARGV[13] error JSON for fail / retry ('' for none)
-- ARGV[14..13+2K] the outputs in the order they were produced: block id, output JSON
-- ARGV[14+2K] number of context key/value pairs to merge (the patches merged in order),
--          followed by the pairs
--
-- Returns  the new state
-- Errors   "FENCED ..." when the runner no longer holds the instance, "KEYS <key>..." keys to declare,
--          "INVALID arguments ..." when ARGV[8] or the pair count disagrees with the arguments given
--          (nothing changes)
take_declared_keys()
local inst, ctx, out, ev, ready, leases, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local id, epoch, now, maxlen, retention, lease, mode = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local outputs, output_at, next_index, next_block, due, err = tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]

-- Every check before the first write: a failure after it would leave a half-applied commit.
if not outputs or outputs < 0 or outputs % 1 ~= 0 or 14 + 2 * outputs > #ARGV then
  return redis.error_reply('INVALID arguments output count does not match the outputs given')
end
local patch_at = 14 + 2 * outputs
local pairs_count = pair_count(patch_at)
if not pairs_count then return redis.error_reply('INVALID arguments context pair count does not match the pairs given') end

-- The task fields too: a finishing commit ends the instance's tasks (drop_tasks) and needs their
-- queues declared first; nothing below changes them before drop_tasks.
local current = redis.call('HMGET', inst, 'epoch', 'state', unpack(TASK_FIELDS))
local tasks = {current[3], current[4], current[5], current[6]}
if current[1] ~= epoch then return redis.error_reply('FENCED epoch ' .. tostring(current[1]) .. ' is newer than ' .. epoch) end
local state = current[2]
if state ~= 'running' and state ~= 'paused' then return redis.error_reply('FENCED instance is ' .. tostring(state)) end
if mode == 'fail' or mode == 'complete' then
  local missing = undeclared(task_queue_keys(inst, {}, tasks))
  if missing then return missing end
end

hset_pairs(ctx, ARGV, patch_at + 1, #ARGV)
if outputs > 0 then
  -- One HINCRBY and one HSET for all K outputs; each still gets its own order number and event.
  local n = redis.call('HINCRBY', inst, 'outputs', outputs) - outputs
  local records = {}
  for i = 14, patch_at - 1, 2 do
    n = n + 1
    local record = '{"block_id":' .. cjson.encode(ARGV[i]) .. ',"output":' .. ARGV[i + 1] .. ',"created_at":"' .. output_at .. '"'
    records[#records + 1] = ARGV[i]
    records[#records + 1] = record .. ',"n":' .. n .. '}'
    emit(ev, maxlen, 'output', record .. '}')
  end
  hset_pairs(out, records, 1, #records)
end

-- `...`: more instance fields to set with the state, as field/value pairs.
local function finish(final, ...)
  redis.call('HSET', inst, 'state', final, 'updated_at', now, 'error', err, ...)
  redis.call('ZREM', leases, id)
  redis.call('ZREM', ready, id)
  drop_tasks(inst, KEYS[8], tasks)
  record_expiry(KEYS[9], id, now, retention)
  state_event(ev, maxlen, id, final)
  for i = 1, #KEYS do
    if i < 5 or i > 9 then redis.call('PEXPIRE', KEYS[i], retention) end
  end
  wake(channel, id)
  return final
end

if mode == 'fail' then return finish('failed') end
if mode == 'complete' then return finish('completed', 'block_index', next_index, 'current_block', '') end

if mode == 'retry' then
  redis.call('HINCRBY', inst, 'attempt', 1)
  redis.call('HSET', inst, 'last_error', err)
else
  redis.call('HSET', inst, 'block_index', next_index, 'current_block', next_block, 'attempt', 0)
end

if state == 'paused' then
  -- Paused while the block ran: keep the result, stay paused, run on when resumed.
  redis.call('ZREM', leases, id)
  redis.call('HSET', inst, 'paused_from', 'scheduled', 'updated_at', now)
  wake(channel, id)
  return 'paused'
end
if mode == 'continue' then
  redis.call('ZADD', leases, now + lease, id)
  redis.call('HSET', inst, 'updated_at', now)
  if outputs > 0 then wake(channel, id) end
  return 'running'
end
-- schedule / retry: release the instance to the ready queue (a durable timer).
redis.call('ZREM', leases, id)
redis.call('ZADD', ready, due, id)
redis.call('HSET', inst, 'state', 'scheduled', 'updated_at', now)
state_event(ev, maxlen, id, 'scheduled')
wake(channel, id)
return 'scheduled'
