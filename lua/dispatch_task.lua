-- dispatch_task: the runner hands an external step to the workers: the task is recorded on the
-- instance (one open task at most) and queued for its handler. The instance stays `running`;
-- the runner's lease ends (the task has its own lease once a worker takes it).
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:leases              zset id -> runner lease expiry
-- KEYS[3]  {p}:tasks:<handler>     zset task id -> due ms
-- KEYS[4]  {p}:wake                shard channel
-- KEYS[5]  {p}:tasks:<handler>|<tenant>  the same task for tenant-bound workers (= KEYS[3] without a tenant)
-- ARGV[1]  instance id
-- ARGV[2]  epoch the runner claimed
-- ARGV[3]  now ms
-- ARGV[4]  task id (<instance id>~<epoch>~<handler>[~<tenant>])
-- ARGV[5]  block id
-- ARGV[6]  handler
-- ARGV[7]  rendered params JSON
-- ARGV[8]  next block index
-- ARGV[9]  next block id ('' when it is the last block)
-- ARGV[10] retry: max attempts
-- ARGV[11] retry: backoff ms
-- ARGV[12] retry: multiplier
--
-- Returns  the task id; or 'paused' when the instance was paused meanwhile (not dispatched)
-- Errors   "FENCED ..." when the runner no longer holds the instance
local inst, leases, tasks, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, epoch, now, task = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('HMGET', inst, 'epoch', 'state', 'attempt')
if current[1] ~= epoch then return redis.error_reply('FENCED epoch ' .. tostring(current[1]) .. ' is newer than ' .. epoch) end
redis.call('ZREM', leases, id)
if current[2] == 'paused' then
  redis.call('HSET', inst, 'paused_from', 'scheduled')
  return 'paused'
end
if current[2] ~= 'running' then return redis.error_reply('FENCED instance is ' .. tostring(current[2])) end
redis.call('HSET', inst, 'task_id', task, 'task_block', ARGV[5], 'task_handler', ARGV[6], 'task_params', ARGV[7],
  'task_attempt', tonumber(current[3] or '0') + 1, 'task_next_index', ARGV[8], 'task_next_block', ARGV[9],
  'task_max_attempts', ARGV[10], 'task_backoff_ms', ARGV[11], 'task_multiplier', ARGV[12], 'task_worker', '',
  'task_queues', tasks .. '\n' .. KEYS[5], 'updated_at', now)
-- Every task waits in its handler's queue (workers bound to no tenant poll it) and, for an
-- instance of a tenant, in that tenant's queue too (its tenant-bound workers poll only that).
redis.call('ZADD', tasks, now, task)
redis.call('ZADD', KEYS[5], now, task)
redis.call('SPUBLISH', channel, id)
-- Workers long-polling for this handler wake up at once.
redis.call('SPUBLISH', channel, '~tasks:' .. ARGV[6])
return task
