-- prelude: helpers prepended to the scripts that change instances (LuaScripts.instanceScript).
-- Not a script of its own: it defines local functions only.
--
-- Every state change appends its `state` event in the same script (no change without its
-- event, no event without its change) and wakes the partition's streams and runners.

-- Keys named by data. Redis Cluster checks the keys a script declares in KEYS before running it
-- (while its slot migrates it answers ASK or TRYAGAIN instead of running a script that would find
-- only some of them), so a key a script learns from data (an open gate's indexes, an open task's
-- queues) must be declared too: undeclared, a migrating slot fails the script halfway. The caller
-- appends the keys it expects such data to name, then their count as the last ARGV;
-- `take_declared_keys()` (first line of such a script) removes them from KEYS and ARGV, so each
-- script's own layout is unchanged, and `undeclared(keys)` answers the ones the data names that
-- the caller did not send, as `KEYS <key> <key>...` (before any write; the caller sends again
-- with them; key names never contain spaces: identifiers and the prefix exclude them).
-- On a single Redis no slot migrates: its callers send the count -1 and nothing is asked for.
local DECLARED = {}
local CHECK_DECLARED = true
local function take_declared_keys()
  local n = tonumber(table.remove(ARGV))
  if n == -1 then
    CHECK_DECLARED = false
    return
  end
  for _, key in ipairs(KEYS) do DECLARED[key] = true end
  if not n or n < 0 or n > #KEYS or n % 1 ~= 0 then error('ERR declared key count missing or wrong') end
  for _ = 1, n do table.remove(KEYS) end
end

local function undeclared(keys)
  if not CHECK_DECLARED then return false end
  local missing = {}
  for _, key in ipairs(keys) do
    if not DECLARED[key] then missing[#missing + 1] = key end
  end
  if #missing == 0 then return false end
  return redis.error_reply('KEYS ' .. table.concat(missing, ' '))
end

-- The instance's task fields that task_queue_keys and drop_tasks need, in this order (a script on
-- the hot path reads them with its own HMGET and passes them on: one command instead of three).
local TASK_FIELDS = {'task_id', 'task_queues', 'esc_task', 'esc_queue'}

local function task_fields(inst)
  return redis.call('HMGET', inst, unpack(TASK_FIELDS))
end

-- The queues drop_tasks takes the instance's open worker and escalation tasks out of, appended
-- to `list`. `f`: the TASK_FIELDS as read (nil: read them here).
local function task_queue_keys(inst, list, f)
  f = f or task_fields(inst)
  if f[1] then
    for queue in string.gmatch(f[2] or '', '[^\n]+') do list[#list + 1] = queue end
  end
  if f[3] and f[4] then list[#list + 1] = f[4] end
  return list
end

-- Appends an event to an instance stream, trimmed to about `maxlen` entries; returns its id.
local function emit(stream, maxlen, kind, data)
  return redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', kind, 'data', data)
end

-- HSET of the field/value list `list[first..last]` in slices of 500 pairs: `unpack` fails beyond
-- Lua's stack limit (about 8000 values), and a script that fails after its first write has
-- half-applied (Redis does not roll back). User-sized maps (contexts, patches) go through here.
local function hset_pairs(key, list, first, last)
  for i = first, last, 1000 do
    redis.call('HSET', key, unpack(list, i, math.min(i + 999, last)))
  end
end

-- The count of pairs at ARGV[at] and a check that exactly that many follow it (last argument
-- `#ARGV`); false when the arguments disagree (checked before a script's first write).
local function pair_count(at)
  local count = tonumber(ARGV[at])
  if not count or count < 0 or count % 1 ~= 0 or #ARGV ~= at + 2 * count then return false end
  return count
end

-- Why merging the field/value list ARGV[first..last] into the context hash would pass the context
-- limit recorded at create (`ctx_max`), as a TOOLARGE error text; false when it fits. The size is
-- the JSON length of the merged object, counting each field as key + value + 4 (quotes, colon,
-- comma): a check of the whole context, so repeated small patches cannot grow it without bound.
local function context_overflow(inst, ctx, first, last)
  local limit = tonumber(redis.call('HGET', inst, 'ctx_max'))
  if not limit or last < first then return false end
  local patched, size = {}, 1
  for i = first, last, 2 do
    patched[ARGV[i]] = true
    size = size + #ARGV[i] + #ARGV[i + 1] + 4
  end
  local current = redis.call('HGETALL', ctx)
  for i = 1, #current, 2 do
    if not patched[current[i]] then size = size + #current[i] + #current[i + 1] + 4 end
  end
  if size <= limit then return false end
  return 'TOOLARGE the context would be about ' .. size .. ' bytes; the limit is ' .. limit .. ' (SLUICE_CONTEXT_MAX_BYTES)'
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

-- Idempotency-Keys an instance remembers (`idem:<key>` fields of its hash), at most: when a
-- record would pass it, the oldest half is forgotten in one go (one HGETALL per 500 records, not
-- per signal). A long-lived instance's hash does not grow without bound; a key older than the
-- newest 500 may be forgotten (a repeat of it then applies again). README → Limits.
local IDEMPOTENCY_KEYS_KEPT = 1000

-- Records `<signal>|<status>|<signal id>|<n>` under `idem:<key>` (n orders them: idem_seq) and
-- keeps at most IDEMPOTENCY_KEYS_KEPT of them. Readers match the first three parts only.
local function remember_idempotency(inst, key, signal, status, signal_id)
  local n = redis.call('HINCRBY', inst, 'idem_seq', 1)
  redis.call('HSET', inst, 'idem:' .. key, signal .. '|' .. status .. '|' .. signal_id .. '|' .. n)
  if redis.call('HINCRBY', inst, 'idem_count', 1) <= IDEMPOTENCY_KEYS_KEPT then return end
  local all, records = redis.call('HGETALL', inst), {}
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 5) == 'idem:' then
      -- Records written before the order number existed count as the oldest.
      records[#records + 1] = {all[i], tonumber(string.match(all[i + 1], '^[^|]*|[^|]*|[^|]*|(%d+)$')) or 0}
    end
  end
  table.sort(records, function(a, b) return a[2] < b[2] end)
  local keep = math.floor(IDEMPOTENCY_KEYS_KEPT / 2)
  local forget = {}
  for i = 1, #records - keep do forget[#forget + 1] = records[i][1] end
  for i = 1, #forget, 1000 do redis.call('HDEL', inst, unpack(forget, i, math.min(i + 999, #forget))) end
  redis.call('HSET', inst, 'idem_count', #records - #forget)
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

-- Ends the instance's open worker task: out of the queues dispatch_task put it in (its
-- handler's, and its tenant's; `task_queues`) and out of the task leases, its fields cleared. A
-- worker still holding it is fenced (complete, fail and heartbeat find no matching task_id).
-- `f`: {task_id, task_queues} as read (nil: read them here).
local function drop_task(inst, tasklease, f)
  f = f or redis.call('HMGET', inst, 'task_id', 'task_queues')
  if not f[1] then return end
  redis.call('ZREM', tasklease, f[1])
  for queue in string.gmatch(f[2] or '', '[^\n]+') do redis.call('ZREM', queue, f[1]) end
  redis.call('HDEL', inst, 'task_id', 'task_block', 'task_handler', 'task_params', 'task_attempt', 'task_next_index',
    'task_next_block', 'task_max_attempts', 'task_backoff_ms', 'task_multiplier', 'task_worker', 'task_queues')
end

-- The same for the instance's escalation task (queued by timeout_gate in `esc_queue`).
-- `f`: {esc_task, esc_queue} as read (nil: read them here).
local function drop_escalation(inst, tasklease, f)
  f = f or redis.call('HMGET', inst, 'esc_task', 'esc_queue')
  if not f[1] then return end
  redis.call('ZREM', tasklease, f[1])
  if f[2] then redis.call('ZREM', f[2], f[1]) end
  redis.call('HDEL', inst, 'esc_task', 'esc_block', 'esc_handler', 'esc_params', 'esc_attempt', 'esc_worker', 'esc_queue')
end

-- A finished instance's keys expire after the retention; the partition's expiry index says when,
-- so that the sweeper can drop its listing entry then (trim_expired.lua).
local function record_expiry(expiry, id, now, retention)
  redis.call('ZADD', expiry, tonumber(now) + tonumber(retention), id)
end

-- An instance that finishes (completed, failed, cancelled) or is deleted leaves no task behind:
-- nothing is handed out for it again, and no queue or lease keeps an entry naming it once its
-- keys have expired. `f`: the TASK_FIELDS as read, when nothing has changed them since (nil:
-- read them here).
local function drop_tasks(inst, tasklease, f)
  drop_task(inst, tasklease, f and {f[1], f[2]})
  drop_escalation(inst, tasklease, f and {f[3], f[4]})
end
