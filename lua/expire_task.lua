-- expire_task: a task whose worker lease expired (no heartbeat) is queued again for another
-- worker with attempt + 1. Only if the lease is still expired (a heartbeat may have just won).
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:tasks:<handler>     zset task id -> due ms
-- KEYS[3]  {p}:tasklease           zset task id -> lease expiry ms
-- KEYS[4]  {p}:wake                shard channel
-- KEYS[5]  {p}:tasks:<handler>|<tenant>  its tenant's queue (= KEYS[2] without a tenant)
-- ARGV[1]  task id
-- ARGV[2]  now ms
-- ARGV[3]  handler (whose long-polling workers are woken)
--
-- Returns  1 when re-queued, 0 otherwise
local inst, tasks, tasklease, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local task, now = ARGV[1], tonumber(ARGV[2])
local expiry = redis.call('ZSCORE', tasklease, task)
if not expiry or tonumber(expiry) > now then return 0 end
-- Escalation tasks (<instance>~x<epoch>~<handler>, see timeout_gate.lua) keep their fields under
-- esc_* on the instance hash and do not depend on the instance's state.
local esc = string.find(task, '~x', 1, true) ~= nil
local f_id, f_worker, f_attempt = 'task_id', 'task_worker', 'task_attempt'
if esc then f_id, f_worker, f_attempt = 'esc_task', 'esc_worker', 'esc_attempt' end
redis.call('ZREM', tasklease, task)
local current = redis.call('HMGET', inst, f_id, 'state', 'id')
if current[1] ~= task or (current[2] ~= 'running' and not esc) then return 0 end
redis.call('HINCRBY', inst, f_attempt, 1)
redis.call('HSET', inst, f_worker, '')
redis.call('ZADD', tasks, now, task)
if not esc then redis.call('ZADD', KEYS[5], now, task) end
redis.call('SPUBLISH', channel, current[3])
redis.call('SPUBLISH', channel, '~tasks:' .. ARGV[3])
return 1
