-- tierlink atomic append.
-- KEYS[1] the partition's state hash: "head" (the last log position), one
--         "agg:<type>/<id>" field per aggregate (its version) and one "cmd:<id>"
--         field per applied command (its first result)
-- KEYS[2] the partition log   KEYS[2+i] the stream of the i-th aggregate
-- ARGV[1] the command's field   ARGV[2] the command's fingerprint
-- ARGV[3] the number of aggregates n
-- ARGV[4] a fencing token, or "" (then the last KEYS entry is the lease it must hold)
-- then for each aggregate: its field, its expected version, its event count k,
-- and k pairs of (event id, encoded event).
-- Replies {"ok", result}, {"dup", first result}, {"conflict", aggregate index,
-- actual version}, {"corrupt", key, its last entry id, the id expected} or
-- {"fenced", the lease's holder} when the writer's lease is no longer its own,
-- where result is "first_position last_position version_1,version_2,... fingerprint".
-- Everything is checked before anything is written (a script that failed half-way
-- would leave its first writes in place): the versions, and that the log ends where
-- the state hash says (it does not if someone else wrote to it, or the state hash
-- was lost), so that no XADD of an explicit id can fail. The aggregate streams are
-- written by this script alone and follow the versions in the state hash.
local n = tonumber(ARGV[3])
if ARGV[4] ~= '' then
  local lease = redis.call('GET', KEYS[#KEYS])
  if not lease or string.match(lease, ' (%d+)$') ~= ARGV[4] then
    return {'fenced', lease or 'none'}
  end
end
local fields = {ARGV[1], 'head'}
local specs = {}
local a = 5
for i = 1, n do
  local k = tonumber(ARGV[a + 2])
  fields[i + 2] = ARGV[a]
  specs[i] = {ARGV[a], tonumber(ARGV[a + 1]), k, a + 3}
  a = a + 3 + 2 * k
end
local current = redis.call('HMGET', KEYS[1], unpack(fields))
if current[1] then
  return {'dup', current[1]}
end
for i = 1, n do
  local version = tonumber(current[i + 2] or '0')
  if version ~= specs[i][2] then
    return {'conflict', tostring(i), tostring(version)}
  end
end
local function ends_at(key, last)
  local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)[1]
  local want = last .. '-0'
  if (last == 0 and top) or (last > 0 and (not top or top[1] ~= want)) then
    return {'corrupt', key, top and top[1] or 'none', last == 0 and 'none' or want}
  end
  return nil
end
local pos = tonumber(current[2] or '0')
local bad = ends_at(KEYS[2], pos)
if bad then return bad end
local first = pos + 1
local versions = {}
local updates = {}
for i = 1, n do
  local spec = specs[i]
  local version = spec[2]
  local j = spec[4]
  for _ = 1, spec[3] do
    version = version + 1
    pos = pos + 1
    redis.call('XADD', KEYS[2 + i], version .. '-0', 'id', ARGV[j], 'payload', ARGV[j + 1])
    redis.call('XADD', KEYS[2], pos .. '-0', '_watermill_message_uuid', ARGV[j], 'pos', pos, 'payload', ARGV[j + 1])
    j = j + 2
  end
  versions[i] = version
  updates[#updates + 1] = spec[1]
  updates[#updates + 1] = version
end
local result = first .. ' ' .. pos .. ' ' .. table.concat(versions, ',') .. ' ' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], result, 'head', pos, unpack(updates))
return {'ok', result}
