-- delete_instance: removes every key of an instance and its entries in the partition's
-- indexes, atomically; an open approval gate leaves the queue (`removed`, reason cancelled).
-- Open streams notice the instance is gone (woken here). Its worker task and escalation task
-- leave their queues and the task leases (the queue names are on the instance hash, and the
-- caller declares them: take_declared_keys).
--
-- KEYS[1]  {p}:i:<id>                    instance hash
-- KEYS[2]  {p}:gate:<id>                 the open gate
-- KEYS[3]  {p}:appritems                 hash id -> approval item JSON
-- KEYS[4]  {p}:deadlines                 zset id -> deadline ms
-- KEYS[5]  {p}:apprev                    approvals stream
-- KEYS[6]  {p}:wake                      shard channel
-- KEYS[7]  {p}:tasklease                 zset task id -> lease expiry ms
-- KEYS[8..7+n]                           the instance's other keys (ctx, ev, out, inbox, cp, cpd)
-- KEYS[8+n..]                            partition indexes holding the id (ready, idx, leases, expiry, ...)
-- then     the keys the data names (gate indexes, task queues), declared; their count is the last ARGV
-- ARGV[1]  instance id
-- ARGV[2]  n, the number of the instance's other keys
-- ARGV[3]  approvals stream maxlen
-- ARGV[4]  tenant scope of the caller ('' any)
-- ARGV[5]  by: the principal deleting it (on the approvals stream's `removed`)
--
-- Returns  1 when deleted, 0 when there was no such instance
-- Errors   "KEYS <key>..." keys to declare (nothing changed)
take_declared_keys()
local inst, gate, items, deadlines, apprev, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, own, apprev_maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]
if redis.call('EXISTS', inst) == 0 or not in_scope(inst, ARGV[4]) then return 0 end
local missing = undeclared(task_queue_keys(inst, gate_index_keys(gate, {})))
if missing then return missing end
close_gate(gate, items, deadlines, apprev, apprev_maxlen, channel, id, 'cancelled', ARGV[5])
drop_tasks(inst, KEYS[7])
redis.call('DEL', inst, gate, unpack(KEYS, 8, 7 + own))
for i = 8 + own, #KEYS do
  redis.call('ZREM', KEYS[i], id)
end
redis.call('SPUBLISH', channel, id)
return 1
