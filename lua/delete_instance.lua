-- delete_instance: removes every key of an instance and its entries in the partition's
-- indexes, atomically. Open streams notice the instance is gone (woken here).
--
-- KEYS[1]  {p}:i:<id>                    instance hash
-- KEYS[2..n]                             the instance's other keys (ctx, ev, out, gate, inbox, cp, cpd)
-- KEYS[n+1..N-1]                         partition indexes holding the id (ready, idx, leases, ...)
-- KEYS[N]  {p}:wake                      shard channel
-- ARGV[1]  instance id
-- ARGV[2]  n, the number of the instance's own keys
--
-- Returns  1 when deleted, 0 when there was no such instance
local id, own = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', unpack(KEYS, 1, own))
for i = own + 1, #KEYS - 1 do
  redis.call('ZREM', KEYS[i], id)
end
redis.call('SPUBLISH', KEYS[#KEYS], id)
return 1
