-- tierlink atomic append of one or more commands, in order.
-- KEYS[1] the partition's state hash: "head" (the last log position), one
--         "agg:<type>/<id>" field per aggregate (its version) and one "cmd:<id>"
--         field per applied command (its first result)
-- KEYS[2] the partition log; then the stream of each aggregate of each command, in
--         order; then, when fenced, the lease the writer must hold
-- ARGV[1] a fencing token, or ""   ARGV[2] the number of commands c
-- then for each command: its field, its fingerprint, the number p of earlier
-- commands of this call it needs, their indices (from 1), its number of aggregates
-- n, and for each aggregate: its field, its expected version, its event count k and
-- k pairs of (event id, encoded event).
-- Replies {"fenced", the lease's holder} when the writer's lease is no longer its
-- own, {"corrupt", key, its last entry id, the id expected} when the log does not end
-- where the state hash says (someone else wrote to it, or the state hash was lost),
-- and otherwise {"done", reply of command 1, ...}, each one of {"ok", result},
-- {"dup", first result}, {"conflict", aggregate index, actual version} or {"after",
-- index of a needed command that did not take effect}, where result is
-- "first_position last_position version_1,version_2,... fingerprint".
-- A command is checked before anything of it is written (a script that failed
-- half-way would leave its first writes in place), so that no XADD of an explicit id
-- can fail; the aggregate streams are written by this script alone and follow the
-- versions in the state hash.
if ARGV[1] ~= '' then
  local lease = redis.call('GET', KEYS[#KEYS])
  if not lease or string.match(lease, ' (%d+)$') ~= ARGV[1] then
    return {'fenced', lease or 'none'}
  end
end
local pos = tonumber(redis.call('HGET', KEYS[1], 'head') or '0')
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if (pos == 0 and top) or (pos > 0 and (not top or top[1] ~= pos .. '-0')) then
  return {'corrupt', KEYS[2], top and top[1] or 'none', pos == 0 and 'none' or pos .. '-0'}
end
local out = {'done'}
local landed = {}
local a = 3
local key = 3
for c = 1, tonumber(ARGV[2]) do
  local field, fingerprint = ARGV[a], ARGV[a + 1]
  local p = tonumber(ARGV[a + 2])
  local blocked
  for i = 1, p do
    local need = tonumber(ARGV[a + 2 + i])
    if not blocked and not landed[need] then blocked = need end
  end
  a = a + 3 + p
  local n = tonumber(ARGV[a])
  a = a + 1
  local fields = {field}
  local specs = {}
  for i = 1, n do
    local k = tonumber(ARGV[a + 2])
    fields[i + 1] = ARGV[a]
    specs[i] = {ARGV[a], tonumber(ARGV[a + 1]), k, a + 3, KEYS[key]}
    key = key + 1
    a = a + 3 + 2 * k
  end
  local reply
  if blocked then
    reply = {'after', tostring(blocked)}
  else
    local current = redis.call('HMGET', KEYS[1], unpack(fields))
    if current[1] then
      reply = {'dup', current[1]}
      landed[c] = true
    else
      for i = 1, n do
        local version = tonumber(current[i + 1] or '0')
        if version ~= specs[i][2] then
          reply = {'conflict', tostring(i), tostring(version)}
          break
        end
      end
    end
  end
  if not reply then
    local first = pos + 1
    local versions = {}
    local updates = {field, '', 'head', 0}
    for i = 1, n do
      local spec = specs[i]
      local version = spec[2]
      local j = spec[4]
      for _ = 1, spec[3] do
        version = version + 1
        pos = pos + 1
        redis.call('XADD', spec[5], version .. '-0', 'id', ARGV[j], 'payload', ARGV[j + 1])
        redis.call('XADD', KEYS[2], pos .. '-0', '_watermill_message_uuid', ARGV[j], 'pos', pos, 'payload', ARGV[j + 1])
        j = j + 2
      end
      versions[i] = version
      updates[#updates + 1] = spec[1]
      updates[#updates + 1] = version
    end
    local result = first .. ' ' .. pos .. ' ' .. table.concat(versions, ',') .. ' ' .. fingerprint
    updates[2], updates[4] = result, pos
    redis.call('HSET', KEYS[1], unpack(updates))
    reply = {'ok', result}
    landed[c] = true
  end
  out[c + 1] = reply
end
return out
