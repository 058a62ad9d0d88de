-- restore_checkpoint: puts an instance back to the engine snapshot of one of its checkpoints:
-- the context hash becomes the snapshot's, the sequence version and block position are the
-- snapshot's, and the instance is `scheduled`, due now, so a runner continues from that block.
-- Works on any state, terminal ones included (they live again: PERSIST on every key).
--
-- Whatever held the instance is fenced: epoch + 1 (a runner's commit and dispatch are refused),
-- the runner lease goes, and an open worker task is cleared from the instance, its lease entry and
-- its handler's queue (finish_task and heartbeat_task then answer CONFLICT: no task_id match).
-- An open approval gate is closed (its item leaves the queue, `removed` with reason cancelled,
-- and its escalation task, if any, is ended):
-- the restored position decides whether the instance reaches a gate again.
-- Emits an `output` event for the synthetic block `_restore` (recorded in the outputs hash like a
-- step's output) and the `scheduled` state event.
--
-- The task queues and the gate's indexes are named by data (`task_queues` and `esc_queue` on the
-- instance hash, `indexes` on the gate's); the caller declares them after KEYS[16], their count
-- the last ARGV (take_declared_keys in prelude.lua).
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:ctx:<id>        context hash
-- KEYS[3]  {p}:out:<id>        outputs hash
-- KEYS[4]  {p}:ev:<id>         event stream
-- KEYS[5]  {p}:cp:<id>         list of checkpoint ids
-- KEYS[6]  {p}:cpd:<id>        hash checkpoint id -> record JSON
-- KEYS[7]  {p}:gate:<id>       the open approval gate (closed)
-- KEYS[8]  {p}:inbox:<id>      early human_input signals
-- KEYS[9]  {p}:tasklease       zset task id -> lease expiry ms
-- KEYS[10] {p}:ready           zset id -> due ms
-- KEYS[11] {p}:leases          zset id -> runner lease expiry ms
-- KEYS[12] {p}:appritems       hash id -> approval item JSON (closing a gate)
-- KEYS[13] {p}:deadlines       gates with a deadline (closing a gate)
-- KEYS[14] {p}:apprev          approvals queue changes (closing a gate)
-- KEYS[15] {p}:wake            shard channel
-- KEYS[16] {p}:expiry          zset id -> when a finished instance's keys expire (it lives again)
-- ARGV[1]  instance id
-- ARGV[2]  checkpoint id
-- ARGV[3]  now ms
-- ARGV[4]  RFC 3339 time of now
-- ARGV[5]  stream maxlen
-- ARGV[6]  approvals stream maxlen
-- ARGV[7]  tenant scope of the caller ('' any)
-- ARGV[8]  by: the principal restoring
--
-- Returns  {state, current block id ('' when none)}
-- Errors   "NOTFOUND instance not found", "NOTFOUND checkpoint not found",
--          "KEYS <key>..." keys to declare (nothing changed)
take_declared_keys()
local inst, ctx, out, ev, cpd = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6]
local tasklease, ready, leases, channel = KEYS[9], KEYS[10], KEYS[11], KEYS[15]
local id, cp_id, now, now_text, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local f = redis.call('HMGET', inst, 'state', 'tenant_id')
if not f[1] or (ARGV[7] ~= '' and f[2] ~= ARGV[7]) then return redis.error_reply('NOTFOUND instance not found') end
local record = redis.call('HGET', cpd, cp_id)
if not record then return redis.error_reply('NOTFOUND checkpoint not found') end
local _, context_start, _, version, index, block, layout = string.find(record,
  '"snapshot":{"state":"(%a+)","sequence_version":(%d+),"block_index":(%d+),"current_block":"([^"]*)","context_layout":%[([%d,]*)%],"context":{')
if not context_start then return redis.error_reply('ERR checkpoint ' .. cp_id .. ' has no readable snapshot') end
local missing = undeclared(task_queue_keys(inst, gate_index_keys(KEYS[7], {})))
if missing then return missing end

-- The context, cut out of the record by the layout (key length, value length, ...).
local pairs_list, at = {}, context_start + 1
for key_length, value_length in string.gmatch(layout, '(%d+),(%d+)') do
  key_length, value_length = tonumber(key_length), tonumber(value_length)
  pairs_list[#pairs_list + 1] = cjson.decode(string.sub(record, at, at + key_length - 1))
  at = at + key_length + 1
  pairs_list[#pairs_list + 1] = string.sub(record, at, at + value_length - 1)
  at = at + value_length + 1
end
redis.call('DEL', ctx)
for i = 1, #pairs_list, 1000 do
  redis.call('HSET', ctx, unpack(pairs_list, i, math.min(i + 999, #pairs_list)))
end

close_gate(KEYS[7], KEYS[12], KEYS[13], KEYS[14], ARGV[6], channel, id, 'cancelled', ARGV[8])

-- Fence whatever held the instance: an open worker task, a runner.
-- An escalation task of the closed gate ends too.
drop_tasks(inst, tasklease)
redis.call('HDEL', inst, 'paused_from', 'last_error')
redis.call('HINCRBY', inst, 'epoch', 1)
redis.call('ZREM', leases, id)
redis.call('HSET', inst, 'state', 'scheduled', 'sequence_version', version, 'block_index', index, 'current_block', block,
  'attempt', 0, 'error', '', 'updated_at', now)
redis.call('ZADD', ready, now, id)

-- Terminal instances had PEXPIRE on all their keys: a restored one lives again.
for i = 1, 8 do redis.call('PERSIST', KEYS[i]) end
redis.call('ZREM', KEYS[16], id)

local n = redis.call('HINCRBY', inst, 'outputs', 1)
local output = '{"block_id":"_restore","output":{"checkpoint_id":"' .. cp_id .. '"},"created_at":"' .. now_text .. '"'
redis.call('HSET', out, '_restore', output .. ',"n":' .. n .. '}')
emit(ev, maxlen, 'output', output .. ',"by":' .. cjson.encode(ARGV[8]) .. '}')
state_event(ev, maxlen, id, 'scheduled', ARGV[8])
wake_ready(channel, id)
return {'scheduled', block}
