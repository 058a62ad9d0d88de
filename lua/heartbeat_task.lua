-- heartbeat_task: extends the lease of a task the worker still holds.
--
-- KEYS[1]  {p}:i:<id>              instance hash
-- KEYS[2]  {p}:tasklease           zset task id -> lease expiry ms
-- ARGV[1]  task id
-- ARGV[2]  worker id
-- ARGV[3]  now ms
-- ARGV[4]  lease ms
-- ARGV[5]  tenant scope of the worker ('' any)
--
-- Returns  the new lease expiry ms
-- Errors   "CONFLICT lease lost" when the worker no longer holds the task; "NOTFOUND" out of scope
local inst, tasklease = KEYS[1], KEYS[2]
local task, worker, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
-- Escalation tasks (<instance>~x<epoch>~<handler>, see timeout_gate.lua) keep their fields under
-- esc_* on the instance hash and do not depend on the instance's state.
local esc = string.find(task, '~x', 1, true) ~= nil
local f_id, f_worker, f_attempt = 'task_id', 'task_worker', 'task_attempt'
if esc then f_id, f_worker, f_attempt = 'esc_task', 'esc_worker', 'esc_attempt' end
local current = redis.call('HMGET', inst, f_id, f_worker, 'tenant_id')
if ARGV[5] ~= '' and current[3] ~= ARGV[5] then return redis.error_reply('NOTFOUND task not found') end
local expiry = redis.call('ZSCORE', tasklease, task)
if current[1] ~= task or current[2] ~= worker or not expiry or tonumber(expiry) < now then
  return redis.error_reply('CONFLICT lease lost')
end
local expires = now + tonumber(ARGV[4])
redis.call('ZADD', tasklease, expires, task)
return expires
