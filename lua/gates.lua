-- gates: helpers shared by the scripts that open, decide and close approval gates
-- (LuaScripts.gateScript prepends prelude.lua, then this file). Not a script of its own.
--
-- The open gate of an instance lives in {p}:gate:<id>   (block, the index keys holding the item,
-- deadline, on_timeout, escalation). The item's JSON is in the partition's {p}:appritems hash
-- for listing. The index key names were computed by KeySchema when the gate opened and passed
-- in KEYS then; later scripts read them back from the gate hash (the caller of a decision does
-- not know the instance's tenant before reading it) and check that the caller declared them
-- (gate_index_keys, undeclared). They share the partition's hash tag: one slot.

-- The open gate's fields the helpers below use: {block, indexes, tenant, namespace}. A script
-- that needs several of them reads them once and passes them on.
local function gate_fields(gate)
  return redis.call('HMGET', gate, 'block', 'indexes', 'tenant', 'namespace')
end

-- The index keys close_gate takes the open gate's item out of, appended to `list` (they must
-- be declared: see take_declared_keys in prelude.lua). `g`: gate_fields as read (nil: read here).
local function gate_index_keys(gate, list, g)
  local indexes
  if g then indexes = g[2] else indexes = redis.call('HGET', gate, 'indexes') end
  for key in string.gmatch(indexes or '', '[^\n]+') do list[#list + 1] = key end
  return list
end

-- The approvals stream entry for a change of the queue; also wakes approval streams.
local function approval_event(apprev, maxlen, channel, kind, tenant, namespace, data)
  redis.call('XADD', apprev, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'tenant', tenant or '', 'namespace', namespace or '', 'data', data)
  redis.call('SPUBLISH', channel, '~approvals')
end

-- Removes the open gate's item from every index, with a `removed` event. Returns the gate's
-- block id, or false when no gate was open. `g`: gate_fields as read, when nothing has changed the
-- gate since (nil: read here).
local function close_gate(gate, items, deadlines, apprev, apprev_maxlen, channel, id, reason, by, g)
  g = g or gate_fields(gate)
  if not g[1] then return false end
  for key in string.gmatch(g[2] or '', '[^\n]+') do redis.call('ZREM', key, id) end
  redis.call('HDEL', items, id)
  redis.call('ZREM', deadlines, id)
  approval_event(apprev, apprev_maxlen, channel, 'removed', g[3], g[4],
    '{"instance_id":' .. cjson.encode(id) .. ',"block_id":' .. cjson.encode(g[1]) .. ',"reason":"' .. reason .. '"' ..
    (by and (',"by":' .. cjson.encode(by)) or '') .. '}')
  redis.call('DEL', gate)
  return g[1]
end

-- A gate's definition from the instance's `gates` field (written at create from the sequence):
-- {i = block index, store_as, values = {choice values}, next = next block id or ''}.
local function gate_definition(gates_json, block)
  if not gates_json or gates_json == '' then return nil end
  return cjson.decode(gates_json)[block]
end

local function is_choice(def, value)
  if type(value) ~= 'string' then return false end
  for _, allowed in ipairs(def.values) do
    if allowed == value then return true end
  end
  return false
end

-- Records the decision of gate `block` and moves the instance on: the payload becomes the gate's
-- output, context[store_as] the value, and the instance is due at once (or stays paused).
-- Returns the decision record (JSON).
local function record_decision(inst, ctx, out, ev, ready, maxlen, id, def, block, value, payload_json,
                               decided_by, signal_id, now, now_iso, state)
  local value_json = cjson.encode(value)
  local decision = '{"block_id":' .. cjson.encode(block) .. ',"value":' .. value_json .. ',"decided_by":' ..
    cjson.encode(decided_by) .. ',"decided_at":"' .. now_iso .. '","signal_id":' .. cjson.encode(signal_id) .. '}'
  local n = redis.call('HINCRBY', inst, 'outputs', 1)
  local record = '{"block_id":' .. cjson.encode(block) .. ',"output":' .. payload_json .. ',"created_at":"' .. now_iso .. '"'
  redis.call('HSET', out, block, record .. ',"n":' .. n .. '}')
  emit(ev, maxlen, 'output', record .. ',"by":' .. cjson.encode(decided_by) .. '}')
  redis.call('HSET', ctx, def.store_as, value_json)
  -- The decision, the position and the state in one HSET. A paused instance stays paused and
  -- runs on when resumed.
  local moved_to, moved_value = 'state', 'scheduled'
  if state == 'paused' then moved_to, moved_value = 'paused_from', 'scheduled' end
  redis.call('HSET', inst, 'decision:' .. block, decision, 'block_index', def.i + 1, 'current_block', def.next, 'attempt', 0,
    'updated_at', now, moved_to, moved_value)
  if state ~= 'paused' then
    redis.call('ZADD', ready, now, id)
    state_event(ev, maxlen, id, 'scheduled', decided_by)
  end
  return decision
end
