-- tierlink atomic append.
-- KEYS[1] commands hash   KEYS[2] versions hash   KEYS[3] partition log
-- KEYS[4] position counter   KEYS[4+i] stream of the i-th aggregate
-- ARGV[1] command id   ARGV[2] number of aggregates n
-- then for each aggregate: versions-hash field, expected version, event count k,
-- and k pairs of (event id, encoded event).
-- Replies {"ok", result}, {"dup", first result} or {"conflict", aggregate index, actual version}.
-- result is "first_position last_position version_1,version_2,...".
local prior = redis.call('HGET', KEYS[1], ARGV[1])
if prior then
  return {'dup', prior}
end
local n = tonumber(ARGV[2])
local specs = {}
local a = 3
for i = 1, n do
  local field = ARGV[a]
  local expected = tonumber(ARGV[a + 1])
  local k = tonumber(ARGV[a + 2])
  local current = tonumber(redis.call('HGET', KEYS[2], field) or '0')
  if current ~= expected then
    return {'conflict', tostring(i), tostring(current)}
  end
  specs[i] = {field, current, k, a + 3}
  a = a + 3 + 2 * k
end
local pos = tonumber(redis.call('GET', KEYS[4]) or '0')
local first = pos + 1
local versions = {}
for i = 1, n do
  local spec = specs[i]
  local version = spec[2]
  local j = spec[4]
  for _ = 1, spec[3] do
    version = version + 1
    pos = pos + 1
    redis.call('XADD', KEYS[4 + i], version .. '-0', 'id', ARGV[j], 'payload', ARGV[j + 1])
    redis.call('XADD', KEYS[3], pos .. '-0', '_watermill_message_uuid', ARGV[j], 'pos', pos, 'payload', ARGV[j + 1])
    j = j + 2
  end
  redis.call('HSET', KEYS[2], spec[1], version)
  versions[i] = version
end
redis.call('SET', KEYS[4], pos)
local result = first .. ' ' .. pos .. ' ' .. table.concat(versions, ',')
redis.call('HSET', KEYS[1], ARGV[1], result)
return {'ok', result}
