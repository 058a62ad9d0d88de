-- lease_task: a worker takes a queued task: it leaves the handler's queue and gets a lease.
-- The worker receives the params, the context and the instance's latest checkpoint.
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:ctx:<id>            context hash
-- KEYS[3]  {p}:tasks:<handler>     zset task id -> due ms
-- KEYS[4]  {p}:tasklease           zset task id -> lease expiry ms
-- KEYS[5]  {p}:cp:<id>             list of checkpoint ids, oldest first
-- KEYS[6]  {p}:cpd:<id>            hash checkpoint id -> checkpoint JSON
-- KEYS[7]  the task's other queue (its tenant's, or its handler's when KEYS[3] is the tenant's)
-- ARGV[1]  task id
-- ARGV[2]  worker id
-- ARGV[3]  now ms
-- ARGV[4]  lease ms
-- ARGV[5]  tenant scope of the worker ('' any): a task of another tenant's instance is never handed out
--
-- Returns  {instance fields (HGETALL), context (HGETALL), latest checkpoint JSON or false,
--          lease expiry ms}; nil when the task is gone or already taken
local inst, ctx, tasks, tasklease, cp, cpd = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local task, worker, now, lease = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local due = redis.call('ZSCORE', tasks, task)
if not due or tonumber(due) > now then return nil end
-- Escalation tasks (<instance>~x<epoch>~<handler>, see timeout_gate.lua) keep their fields under
-- esc_* on the instance hash and do not depend on the instance's state.
local esc = string.find(task, '~x', 1, true) ~= nil
local f_id, f_worker, f_attempt = 'task_id', 'task_worker', 'task_attempt'
if esc then f_id, f_worker, f_attempt = 'esc_task', 'esc_worker', 'esc_attempt' end
local current = redis.call('HMGET', inst, f_id, 'state', 'tenant_id')
if ARGV[5] ~= '' and current[3] ~= ARGV[5] then return nil end
redis.call('ZREM', tasks, task)
redis.call('ZREM', KEYS[7], task)
if current[1] ~= task or (current[2] ~= 'running' and not esc) then return nil end
local expires = now + lease
redis.call('ZADD', tasklease, expires, task)
redis.call('HSET', inst, f_worker, worker)
local checkpoint = false
local latest = redis.call('LINDEX', cp, -1)
if latest then checkpoint = redis.call('HGET', cpd, latest) end
return {redis.call('HGETALL', inst), redis.call('HGETALL', ctx), checkpoint, expires}
