-- json_test.lua -- host.json: exact integers, arrays, null, errors.
local tap = require "tap"
local json = host.json

local v = json.decode("9007199254740993")
tap.ok(math.type(v) == "integer", "2^53+1 decodes as an integer")
tap.is(v, 9007199254740993, "2^53+1 is exact")
tap.is(json.decode("-9223372036854775808"), math.mininteger, "-2^63 is exact")
tap.is(json.decode("9223372036854775807"), math.maxinteger, "2^63-1 is exact")
tap.is(json.encode(math.mininteger), "-9223372036854775808", "-2^63 encodes exactly")
tap.is(json.encode({ n = 9007199254740993 }), '{"n":9007199254740993}',
  "2^53+1 encodes exactly")
local d, err = json.decode("9223372036854775808")
tap.ok(d == nil and err ~= nil, "an integer over int64 is refused, not rounded")
tap.is(math.type(json.decode("1.5")), "float", "reals stay floats")

tap.is(json.encode({}), "{}", "an empty table is an object")
tap.is(json.encode(json.array()), "[]", "json.array() is an empty array")
tap.is(json.encode({ 1, 2, 3 }), "[1,2,3]", "a sequence is an array")
tap.is(json.encode({ b = 1, a = 2 }), '{"a":2,"b":1}', "keys are sorted")
tap.is(json.encode(json.decode("[]")), "[]", "a decoded empty array stays an array")
tap.is(json.encode({ x = host.null }), '{"x":null}', "host.null is null")
tap.ok(json.decode("null") == host.null, "null decodes to host.null")
tap.is(json.encode("<\"é\">"), '"<\\"é\\">"', "strings are escaped, UTF-8 kept")

d, err = json.decode("{")
tap.ok(d == nil and type(err) == "string", "malformed JSON gives nil and a message")
d, err = json.decode('{"a":1,"a":2}')
tap.ok(d == nil, "duplicate keys are refused")
d, err = json.decode(string.rep("[", 100) .. string.rep("]", 100))
tap.ok(d == nil, "nesting past 64 levels is refused")
d = json.decode('"\\u0000"')
tap.ok(d == nil or d == "\0", "an escaped NUL does not crash")
tap.raises(function() json.encode({ [1] = 1, [3] = 3 }) end, "",
  "a table with holes and no string keys is refused")
tap.raises(function() json.encode({ f = function() end }) end,
  "cannot encode", "functions cannot be encoded")
tap.raises(function() json.encode(0/0) end, "NaN", "NaN cannot be encoded")
tap.raises(function() json.encode("\xff") end, "UTF%-8",
  "invalid UTF-8 cannot be encoded")
tap.raises(function() json.encode({ 1, 2, x = 3 }) end, "keys must be strings",
  "a sequence with a string key is refused")
local marked = json.array()
marked.x = 1
tap.raises(function() json.encode(marked) end, "holes or extra keys",
  "an array marked as one may not hold string keys")
-- Objects larger than the encoder's first key block (16), sorted.
local big, want = {}, {}
for i = 40, 1, -1 do
  local k = string.format("k%02d", i)
  big[k] = { i, { inner = k } }
end
for i = 1, 40 do
  local k = string.format("k%02d", i)
  want[#want + 1] = string.format('"%s":[%d,{"inner":"%s"}]', k, i, k)
end
tap.is(json.encode(big), "{" .. table.concat(want, ",") .. "}",
  "40 keys come out sorted, nested values intact")
tap.is(json.encode({ s = "a\1\n\t\"\\b" }), '{"s":"a\\u0001\\n\\t\\"\\\\b"}',
  "control characters, quote and backslash are escaped")
tap.is(json.encode({ n = -42, z = 0, m = math.maxinteger }),
  '{"m":9223372036854775807,"n":-42,"z":0}', "integers in decimal")
local t = {}
t.self = t
tap.raises(function() json.encode(t) end, "deeply", "a cycle is refused")

tap.is(select(2, json.decode("[1\0]")), "NUL byte in JSON text",
  "decode refuses a NUL byte even where jansson would let it pass")
tap.is(select(2, json.records('{"a":1\0}')), "INVALID_JSON",
  "records refuses it too")
tap.is(select(2, json.records('{"a":1,"a":2}')), "INVALID_JSON",
  "records refuses duplicate keys")
tap.is(select(2, json.records('{"a":1,"\\u0061":2}')), "INVALID_JSON",
  "... compared after unescaping")
tap.is(select(2, json.records('[{"a":92233720368547758070}]')), "INVALID_JSON",
  "records refuses an integer over 64 bits, as decode does")
tap.is(select(2, json.records('[{"a":1e999}]')), "INVALID_JSON",
  "records refuses a real that overflows, as decode does")
tap.is(select(2, json.records('[{"a":"\\ud800"}]')), "INVALID_JSON",
  "records refuses a lone surrogate escape")
tap.ok(json.records('[{"a":"\\ud83d\\ude00","b":-0.5e-3}]') ~= nil,
  "a surrogate pair and a small real pass")
tap.is(select(3, json.records('[{"a":1},2]')), "record 2 is not a JSON object",
  "a non-object element is named by its position")

-- Webhook bodies: the same nesting limit as decode.
local deep = string.rep('{"a":', 70) .. "1" .. string.rep("}", 70)
local recs, code = json.records(deep)
tap.ok(recs == nil and code == "INVALID_JSON", "records refuses what decode refuses")
recs = json.records(' [ {"a":1} ,\n{"b":[1,"]},{",2], "c": {"d": "\\"}"}} ] ')
tap.ok(recs and #recs == 2 and recs[1] == '{"a":1}' and
  recs[2] == '{"b":[1,"]},{",2], "c": {"d": "\\"}"}}',
  "records splits an array into the objects as sent")
recs = json.records('{"z": 9007199254740993, "a": -9223372036854775808}')
tap.ok(recs and recs[1] == '{"z": 9007199254740993, "a": -9223372036854775808}',
  "a single object is stored as sent, big integers untouched")

return tap.done()
