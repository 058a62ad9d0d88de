-- decide_gate: a `human_input:<block>` signal. Decides the open gate `block`, or keeps the
-- decision in the inbox when the instance has not reached that gate yet. Exactly one decision
-- per gate: a second one gets the first back.
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:ctx:<id>        context hash
-- KEYS[3]  {p}:out:<id>        outputs hash
-- KEYS[4]  {p}:ev:<id>         event stream
-- KEYS[5]  {p}:gate:<id>       the open gate
-- KEYS[6]  {p}:inbox:<id>      early decisions by block id
-- KEYS[7]  {p}:ready           zset id -> due ms
-- KEYS[8]  {p}:appritems       hash id -> approval item JSON
-- KEYS[9]  {p}:deadlines       zset id -> deadline ms
-- KEYS[10] {p}:apprev          approvals stream
-- KEYS[11] {p}:wake            shard channel
-- KEYS[12..] then the last ARGV: the open gate's index keys, declared (take_declared_keys)
-- ARGV[1]  instance id
-- ARGV[2]  block id
-- ARGV[3]  payload JSON (an object)
-- ARGV[4]  signal id
-- ARGV[5]  decided_by
-- ARGV[6]  now ms
-- ARGV[7]  now, RFC 3339
-- ARGV[8]  instance stream maxlen
-- ARGV[9]  approvals stream maxlen
-- ARGV[10] Idempotency-Key ('' none)
-- ARGV[11] tenant scope of the caller ('' any)
--
-- Returns  {'applied', signal id} decided now; {'queued', signal id} kept for later;
--          {'decided', decision JSON} the gate was already decided (409);
--          {'pending', signal id} an early decision for this gate is already queued (409)
-- Errors   "KEYS <key>..." index keys to declare (nothing changed), "NOTFOUND ...", "CONFLICT ...", "INVALID <field> <message>" (field Idempotency-Key:
--          the key was first used for another signal; `idem:<key>` = `<signal>|<status>|<signal id>|<n>`,
--          shared with signal_instance; see remember_idempotency in prelude.lua)
take_declared_keys()
local inst, ctx, out, ev, gate, inbox, ready = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local items, deadlines, apprev, channel = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
local id, block, payload_json, signal_id, decided_by = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now, now_iso, maxlen, apprev_maxlen, idempotency, scope = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]

local f = redis.call('HMGET', inst, 'state', 'gates', 'block_index', 'decision:' .. block, 'idem:' .. idempotency, 'tenant_id')
local state = f[1]
if not state or (scope ~= '' and f[6] ~= scope) then return redis.error_reply('NOTFOUND instance not found') end
if idempotency ~= '' and f[5] then
  local first, status, first_id = string.match(f[5], '^([^|]*)|([^|]*)|([^|]*)')
  if first ~= 'human_input:' .. block then
    return redis.error_reply('INVALID Idempotency-Key Idempotency-Key was first used for signal ' .. tostring(first) ..
      ' of this instance; use a new key for a different signal')
  end
  return {status, first_id}
end
local def = gate_definition(f[2], block)
if not def then
  return redis.error_reply('INVALID signal_type ' .. block .. ' is not a human_input block of this instance')
end
local payload = cjson.decode(payload_json)
local value = payload[def.store_as]
if value == nil then value = payload.value end
if not is_choice(def, value) then
  return redis.error_reply('INVALID payload payload.' .. def.store_as .. ' (or payload.value) must be one of: ' ..
    table.concat(def.values, ', '))
end
-- A decided gate answers with its decision, even once the instance has finished since.
if f[4] then return {'decided', f[4]} end
if state == 'completed' or state == 'failed' or state == 'cancelled' then
  return redis.error_reply('CONFLICT instance is ' .. state)
end

local function remember(status)
  if idempotency ~= '' then remember_idempotency(inst, idempotency, 'human_input:' .. block, status, signal_id) end
  return {status, signal_id}
end

local g = gate_fields(gate)
if g[1] == block then
  local missing = undeclared(gate_index_keys(gate, {}, g))
  if missing then return missing end
  close_gate(gate, items, deadlines, apprev, apprev_maxlen, channel, id, 'decided', decided_by, g)
  record_decision(inst, ctx, out, ev, ready, maxlen, id, def, block, value, payload_json, decided_by, signal_id, now, now_iso, state)
  wake_ready(channel, id)
  return remember('applied')
end
if tonumber(f[3]) > def.i then
  return redis.error_reply('CONFLICT gate ' .. block .. ' was passed without a decision (its condition was false)')
end
-- Inbox fields name their kind before the block id (block ids may contain ':', so `<block>:value`
-- could be another block's field).
local queued = redis.call('HGET', inbox, 's:' .. block)
if queued then return {'pending', queued} end
redis.call('HSET', inbox, 's:' .. block, signal_id, 'v:' .. block, value, 'p:' .. block, payload_json, 'by:' .. block, decided_by)
return remember('queued')
