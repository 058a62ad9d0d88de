-- prelude: helpers prepended to the scripts that change instances (LuaScripts.instanceScript).
-- Not a script of its own: it defines local functions only.
--
-- Every state change appends its `state` event in the same script (no change without its
-- event, no event without its change) and wakes the partition's streams and runners.

-- Appends an event to an instance stream, trimmed to about `maxlen` entries; returns its id.
local function emit(stream, maxlen, kind, data)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'data', data)
end

-- `by` names the principal whose call caused the change (an API key's name, `anonymous` in open
-- mode, `timeout` for a sweeper's decision); nil for the engine's own steps.
local function state_event(stream, maxlen, id, state, by)
  return emit(stream, maxlen, 'state', cjson.encode({instance_id = id, state = state, by = by}))
end

-- A tenant-bound caller acts only on its tenant's instances: `scope` is its tenant ('' for a
-- caller bound to none). Out of scope is reported exactly like a missing instance, so another
-- tenant's ids cannot be probed.
local function in_scope(inst, scope)
  if scope == '' then return true end
  return redis.call('HGET', inst, 'tenant_id') == scope
end

-- Wakes local SSE streams and runners of the partition (sharded pub/sub, Redis >= 7).
local function wake(channel, id)
  redis.call('SPUBLISH', channel, id)
end

-- The same wake-up, telling runners too that the instance is due now (`<id>|r`): they claim it
-- at once instead of scanning the ready queues ('|' never occurs in ids).
local function wake_ready(channel, id)
  redis.call('SPUBLISH', channel, id .. '|r')
end
