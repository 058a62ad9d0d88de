-- release_task: a stopping sweeper hands back a task it leased (a built-in escalation), queued again
-- due now, so another sweeper runs it at once instead of after the lease. Only while this worker
-- still holds it (the task id, which carries the epoch it was made in, and the worker id match and
-- the lease entry is present): a release never undoes another's newer lease. Not a failed attempt.
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  the task's queue         zset task id -> due ms ({p}:tasks:<handler>, or {p}:esc)
-- KEYS[3]  {p}:tasklease           zset task id -> lease expiry ms
-- KEYS[4]  its tenant's queue      (= KEYS[2] without a tenant)
-- KEYS[5]  {p}:wake                shard channel
-- ARGV[1]  task id
-- ARGV[2]  worker id
-- ARGV[3]  now ms
-- ARGV[4]  handler (whose long-polling workers are woken)
--
-- Returns  1 when released, 0 when the worker no longer held the task
local inst, queue, tasklease, tenant_queue, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local task, worker, now = ARGV[1], ARGV[2], ARGV[3]
-- Escalation tasks (<instance>~x<epoch>~<handler>, see timeout_gate.lua) keep their fields under
-- esc_* on the instance hash.
local esc = string.find(task, '~x', 1, true) ~= nil
local f_id, f_worker = 'task_id', 'task_worker'
if esc then f_id, f_worker = 'esc_task', 'esc_worker' end
local current = redis.call('HMGET', inst, f_id, f_worker)
if current[1] ~= task or current[2] ~= worker then return 0 end
if redis.call('ZREM', tasklease, task) == 0 then return 0 end
redis.call('HSET', inst, f_worker, '')
redis.call('ZADD', queue, now, task)
redis.call('ZADD', tenant_queue, now, task)
redis.call('SPUBLISH', channel, '~tasks:' .. ARGV[4])
return 1
