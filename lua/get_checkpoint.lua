-- get_checkpoint: one checkpoint record of an instance, by id or the newest (reads only; a
-- script so that the instance check and the newest id's record are one command).
--
-- KEYS[1]  {p}:i:<id>          instance hash
-- KEYS[2]  {p}:cp:<id>         list of checkpoint ids, oldest first
-- KEYS[3]  {p}:cpd:<id>        hash checkpoint id -> record JSON
-- ARGV[1]  checkpoint id, or '' for the newest
-- ARGV[2]  tenant scope of the caller ('' any): another tenant's instance is not found
--
-- Returns  the record JSON, or nil when there is no such checkpoint (or none at all)
-- Errors   "NOTFOUND instance not found"
local tenant = redis.call('HMGET', KEYS[1], 'state', 'tenant_id')
if not tenant[1] or (ARGV[2] ~= '' and tenant[2] ~= ARGV[2]) then return redis.error_reply('NOTFOUND instance not found') end
local cp_id = ARGV[1]
if cp_id == '' then
  cp_id = redis.call('LINDEX', KEYS[2], -1)
  if not cp_id then return nil end
end
return redis.call('HGET', KEYS[3], cp_id)
