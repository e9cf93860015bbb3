//! Differential tests of Redis' Lua libraries (`cjson`, `cmsgpack`, `bit`,
//! `struct`) and of the Lua environment's leftovers (global names, error
//! texts through `pcall`, argument errors in tail position): every script
//! runs with EVAL on a real redis-server 7.0 and on ringcache, and the
//! replies must be byte-identical. A bounded property test feeds random
//! bytes to `cjson.decode` and `cmsgpack.unpack` on both.

mod common;

use common::*;
use proptest::prelude::*;

/// EVAL of each line of `scripts` (one Lua chunk per line), with SCRIPT
/// FLUSH first so that library settings (cjson's) start from the defaults.
fn evals(scripts: &str) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![vec![b"SCRIPT".to_vec(), b"FLUSH".to_vec()]];
    for line in scripts.lines().filter(|l| !l.trim().is_empty()) {
        out.push(vec![
            b"EVAL".to_vec(),
            line.as_bytes().to_vec(),
            b"0".to_vec(),
        ]);
    }
    out
}

/// Runs `scripts` on a fresh redis-server and a fresh ringcache.
fn same_as_redis(scripts: &str) {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    assert_same_replies(redis.port, rc.port, &evals(scripts));
}

const CJSON: &str = r##"return cjson.encode({1,2,3})
return cjson.encode({a=1})
return cjson.encode({})
return cjson.encode('a/b"c\\d\1\31\127\128\255')
return cjson.encode('\8\9\10\12\13\11')
return cjson.encode({0.1, 1/3, -1/3, 1e100, 123456789012345678, 2^53, -2^63, 0.5, 100, 1e15, 1e14, 123456.789})
return cjson.encode(1/0)
return cjson.encode(-1/0)
return cjson.encode(0/0)
return cjson.encode({[1]=1, [3]=3})
return cjson.encode({[1]=1, [20]=3})
return cjson.encode({[1]=1, [11]=3})
return cjson.encode({[1]=1, [2.5]=3})
return cjson.encode({[0]=1})
return cjson.encode({[-1]=1})
return cjson.encode({[true]=1})
return cjson.encode({[1e300]=1})
return cjson.encode({[2^31]=1})
return cjson.encode({x=function() end})
return cjson.encode(cjson.null)
return cjson.encode({cjson.null, true, false})
return cjson.encode(nil)
return cjson.encode()
return cjson.encode(1, 2)
return cjson.encode(coroutine.create(function() end))
local t = {} t[1] = t return cjson.encode(t)
local t = {} t.a = t return cjson.encode(t)
local t = {} local c = t for i = 1, 999 do c[1] = {} c = c[1] end return #cjson.encode(t)
local t = {} local c = t for i = 1, 1000 do c[1] = {} c = c[1] end return cjson.encode(t)
cjson.encode_max_depth(5) local t = {{{{{{}}}}}} return cjson.encode(t)
return cjson.encode_max_depth(0)
return cjson.encode_max_depth(5, 6)
return cjson.encode_max_depth('x')
return cjson.encode_number_precision(15)
cjson.encode_number_precision(3) return cjson.encode({1/3, 12345, 0.000012345})
return {cjson.encode_sparse_array()}
return {cjson.encode_sparse_array(true)}
cjson.encode_sparse_array(true) return cjson.encode({[1]=1, [20]=3})
cjson.encode_sparse_array(false, 0) return cjson.encode({[1]=1, [20]=3})
return {cjson.encode_sparse_array('maybe')}
return {cjson.encode_sparse_array(true, -1)}
return {cjson.encode_sparse_array(true, 1, -5)}
return cjson.encode_invalid_numbers('null')
cjson.encode_invalid_numbers('null') return cjson.encode({1/0, 0/0})
cjson.encode_invalid_numbers(true) return cjson.encode({1/0, -1/0, 0/0})
return cjson.encode_invalid_numbers('sometimes')
return tostring(cjson.encode_keep_buffer(false))
return tostring(cjson.decode_invalid_numbers('off'))
cjson.decode_invalid_numbers(false) return cjson.decode('[NaN]')
cjson.decode_invalid_numbers(false) return cjson.decode('[0x10]')
cjson.decode_invalid_numbers(false) return cjson.decode('[01]')
cjson.decode_invalid_numbers(false) return cjson.decode('[+1]')
local t = cjson.decode('[1,2,3,"a",true,false,null,{"x":[]}]') return {t[1], t[4], tostring(t[5]), tostring(t[6]), tostring(t[7] == cjson.null), type(t[8].x)}
return cjson.decode('"\\u00e9\\u4e2d\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"')
return cjson.decode('"\\ud83d"')
return cjson.decode('"\\ude00"')
return cjson.decode('"\\ud83d\\u0041"')
return cjson.decode('"\\u12"')
return cjson.decode('"\\x"')
return cjson.decode('"abc')
return cjson.decode('"a\0b"')
return cjson.decode('[1]\0garbage')
return cjson.decode('\0[1]')
return cjson.decode('')
return cjson.decode('   ')
return cjson.decode('[1,]')
return cjson.decode('[1 2]')
return cjson.decode('{"a" 1}')
return cjson.decode('{"a":1,}')
return cjson.decode('{1:2}')
return cjson.decode('{"a":1 "b":2}')
return cjson.decode('[1] x')
return cjson.decode('nul')
return cjson.decode('truex')
return cjson.decode('tru')
return tostring(cjson.decode('12345678901234567890'))
return tostring(cjson.decode('1e400'))
return tostring(cjson.decode('-1e400'))
return tostring(cjson.decode('1e-400'))
return tostring(cjson.decode('0x1p4'))
return tostring(cjson.decode('-0x10'))
return tostring(cjson.decode('inf'))
return tostring(cjson.decode('-Infinity'))
return tostring(cjson.decode('nan'))
return tostring(cjson.decode('+5'))
return tostring(cjson.decode('007'))
return tostring(cjson.decode('1.5e3'))
return cjson.decode('-')
return cjson.decode('1e')
return tostring(cjson.decode('1e+'))
return cjson.decode('[--1]')
return cjson.decode('[.5]')
return cjson.decode('{"a":{"b":{"c":[1,2,{"d":null}]}}}').a.b.c[3].d == cjson.null
return cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) ~= nil
return type(cjson.decode(string.rep('[', 1001) .. string.rep(']', 1001)))
return cjson.decode(string.rep('{"a":', 1001) .. '1' .. string.rep('}', 1001))
cjson.decode_max_depth(5000) return type(cjson.decode(string.rep('[', 5000) .. string.rep(']', 5000)))
cjson.decode_max_depth(5000) return cjson.decode(string.rep('{"a":', 3000) .. '1' .. string.rep('}', 3000))
cjson.encode_max_depth(9000) local t = {} local c = t for i = 1, 8500 do c[1] = {} c = c[1] end return cjson.encode(t)
cjson.encode_max_depth(9000) local t = {} local c = t for i = 1, 8500 do c.a = {} c = c.a end return cjson.encode(t)
return cjson.decode(123)
return cjson.decode({})
return cjson.decode('[1]', 2)
return cjson.encode(cjson.decode('{"a":[1,2,{"b":"c"}]}'))
return cjson.encode({a={b={}}})
local c = cjson.new() c.encode_number_precision(2) return {c.encode(1/3), cjson.encode(1/3)}
return type(cjson.new)
return {cjson._NAME, cjson._VERSION}
cjson.foo = 1
cjson.encode = nil
rawset(cjson, 'x', 1)
return cjson.encode({'x', {1, {a='b'}}, 'y'})
return cjson.encode({[1]='a', [2]='b', x='c'})
return cjson.encode(0.1 + 0.2)
return cjson.encode(-0.0)
return cjson.encode(1e-300)
return cjson.encode({1e-100, -0.0, 5e-324, 1e-17, 0, {a = 1e-200}})
return cjson.encode(cjson.decode('[1e308, 5e-324, 2.2250738585072014e-308, -0]'))
return cjson.encode(1e21)
return cjson.encode(3.14159265358979)
return cjson.encode('\0')
return cjson.decode('"\\u0000"')
return cjson.decode('"\\u0080\\u07ff\\u0800\\uffff"')
return cjson.decode(' \t\r\n[ 1 , 2 ] \n')
return cjson.decode('[1,2')
return cjson.decode('{')
return cjson.decode('{"a"')
return cjson.decode('{"a":')
return cjson.decode('[')
return cjson.decode('["a\\')
local ok, e = pcall(cjson.decode, '{') return e
local ok, e = pcall(cjson.encode, function() end) return e
return cjson.encode({[1.5]=1, [2]=2})
"##;

const CMSGPACK: &str = r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -2^63, 2^63, 2^64, 2^53 + 1))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(0.5, 0.1, 1/0, -1/0, 0/0, 3.4e38, 3.5e38, 1.5, -2.25))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack('', 'a', string.rep('x', 31), string.rep('y', 32)))
return #cmsgpack.pack(string.rep('x', 255)) .. ' ' .. #cmsgpack.pack(string.rep('x', 256)) .. ' ' .. #cmsgpack.pack(string.rep('x', 65535)) .. ' ' .. #cmsgpack.pack(string.rep('x', 65536))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack({}, {1,2,3}, {a=1}, {[1]=1, [3]=3}, {[0]=1}, {[1.5]=1}, {true, false}, {nil, 2}))
local t = {} for i = 1, 16 do t[i] = i end local u = {} for i = 1, 65536 do u[i] = 1 end return {#cmsgpack.pack(t), #cmsgpack.pack(u)}
local t = {} for i = 1, 16 do t['k' .. i] = 1 end local u = {} for i = 1, 65536 do u['k'..i] = 1 end return {#cmsgpack.pack(t), #cmsgpack.pack(u)}
local t = {} t[1] = t local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(t))
local t = {} t.a = t local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(t))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(function() end, coroutine.create(function() end), cjson.null, nil))
return cmsgpack.pack()
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(cmsgpack.pack(1e-45, -0.0, 1e-300, {1e-300, 0}, {x = 1e-300}, 5e-324))
local a, b, c = cmsgpack.unpack(cmsgpack.pack(1, 'two', {3})) return {a, b, c[1]}
local v = {cmsgpack.unpack(cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649))} return v
local v = {cmsgpack.unpack(cmsgpack.pack(-2^63, 2^62, 0.5, 1.5, -2.25, 1e300))} for i = 1, #v do v[i] = tostring(v[i]) end return v
return tostring(cmsgpack.unpack('\207\255\255\255\255\255\255\255\255'))
return tostring(cmsgpack.unpack('\211\128\0\0\0\0\0\0\0'))
return tostring(cmsgpack.unpack('\202\127\128\0\0'))
return tostring(cmsgpack.unpack('\203\127\248\0\0\0\0\0\0'))
return {cmsgpack.unpack('\193')}
return {cmsgpack.unpack('\196\1a')}
return {cmsgpack.unpack('\212\1a')}
return {cmsgpack.unpack('\205\1')}
return {cmsgpack.unpack('\147\1\2')}
return {cmsgpack.unpack('\221\255\255\255\255')}
return {cmsgpack.unpack('\129\192\1')}
return {cmsgpack.unpack('\129\203\127\248\0\0\0\0\0\1\1')}
return {cmsgpack.unpack('\129\1\192')}
return {cmsgpack.unpack('')}
return {cmsgpack.unpack()}
return {cmsgpack.unpack({})}
return {cmsgpack.unpack(12)}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)}
return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}
return {cmsgpack.unpack_one(nil, 'x')}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 0)}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))}
return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5, 0)}
return #{cmsgpack.unpack(string.rep('\1', 7990))}
return #{cmsgpack.unpack(string.rep('\1', 8000))}
return #{cmsgpack.unpack(string.rep('\161a', 7999))}
return #{cmsgpack.unpack(string.rep('\144', 8000))}
local u = cmsgpack.unpack return u('\193')
return {pcall(cmsgpack.unpack, string.rep('\145', 5000) .. '\1')}
local ok, v = pcall(cmsgpack.unpack, string.rep('\145', 3998) .. '\1') return {tostring(ok), type(v) == 'table' and 'table' or v}
local ok, v = pcall(cmsgpack.unpack, string.rep('\145', 3999) .. '\1') return {tostring(ok), type(v) == 'table' and 'table' or v}
local ok, v = pcall(cmsgpack.unpack, string.rep('\145', 4000) .. '\1') return {tostring(ok), type(v) == 'table' and 'table' or v}
return {pcall(cmsgpack.unpack, string.rep('\129\1', 7990) .. '\1')}
return {pcall(cmsgpack.unpack, string.rep('\129\1', 8000) .. '\1')}
return {cmsgpack._NAME, cmsgpack._VERSION, cmsgpack._COPYRIGHT, cmsgpack._DESCRIPTION}
local s = cmsgpack.pack({a={b={c={1,2,{d='e'}}}}, x=true}) local t = cmsgpack.unpack(s) return {t.a.b.c[3].d, tostring(t.x), t.a.b.c[2]}
return cmsgpack.unpack(cmsgpack.pack('\0binary\255'))
"##;

const BIT: &str = r##"return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(-1), bit.tobit(2^31), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^52), bit.tobit(2^53 + 2), bit.tobit(1e20), bit.tobit(-1e20)}
return {bit.tohex(1), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -2), bit.tohex(0x12345678, 12), bit.tohex(0x12345678, -12), bit.tohex(1, 0), bit.tohex(0xabcdef, -0x80000000), bit.tohex(0xabcdef, 0x80000000)}
return {bit.bnot(0), bit.bnot(-1), bit.bnot(0x12345678)}
return {bit.band(0xff, 0x0f, 0x3), bit.bor(1, 2, 4, 8), bit.bxor(0xff, 0x0f), bit.band(-1), bit.bor(), bit.bxor(1, 2, 3, 4, 5)}
return {bit.lshift(1, 0), bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.lshift(1, -1), bit.rshift(-1, 1), bit.rshift(-1, 31), bit.arshift(-1, 1), bit.arshift(-256, 4), bit.arshift(0x7fffffff, 33)}
return {bit.rol(0x12345678, 4), bit.rol(0x12345678, 0), bit.rol(0x12345678, 32), bit.ror(0x12345678, 4), bit.ror(0x12345678, 36), bit.bswap(0x12345678), bit.bswap(-1), bit.bswap(0xff)}
return bit.band('0xff', '12')
return bit.band(1, 'x')
return bit.band('x', 1, 'y')
return bit.band(1, 2, {})
return bit.tobit()
return bit.tohex(1, nil)
return bit.lshift(1)
return bit.bnot(true)
local b = bit return b.bor(1, {})
local f = bit.bor return f(1, {})
return {pcall(bit.bor, 1, {})}
return bit.tobit(0/0)
return bit.tobit(1/0)
return {bit.tobit('  12  '), bit.tobit('0x10')}
"##;

const STRUCT: &str = r##"local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>bBhHlLiI', -1, 255, -2, 65535, -3, 4, -5, 6))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('<bBhHlLiI', -1, 255, -2, 65535, -3, 4, -5, 6))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>i1i2i3i5i7i8i9i16', 1, -2, 3, -4, 5, -6, 7, -8))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>L', 1e30) .. struct.pack('>l', -1e30) .. struct.pack('>L', 0/0) .. struct.pack('>L', -1) .. struct.pack('>l', 1e19) .. struct.pack('>L', 2^63) .. struct.pack('>l', 1/0) .. struct.pack('>l', -1/0) .. struct.pack('>l', 2.7) .. struct.pack('>l', -2.7))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>fd<fd', 1.5, 0.1, -2.5, 1/3))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('!4bi!2bh!8bdxc3s', 1, 2, 3, 4, 5, 6.5, 'abcdef', 'zz'))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('c0c2s', 'hello', 'world', ''))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack(' > i3 ', 0x123456))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('!3i', 1))
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end return hex(struct.pack('>ddfd', -0.0, 1e-300, 1e-40, 0))
return struct.pack('i99999999999', 1)
return struct.pack('i33', 1)
return struct.pack('q', 1)
return struct.pack('i')
return struct.pack('c5', 'abc')
return struct.pack('s', {})
return struct.pack()
return struct.pack('b', 'x')
return struct.pack('!0b', 1)
local v = {struct.unpack('>bBhHlLiI', struct.pack('>bBhHlLiI', -1, 255, -2, 65535, -3, 4, -5, 6))} return v
local v = {struct.unpack('<i3I3i16I9', struct.pack('<i3I3i16I9', -2, 70000, -3, 4))} for i = 1, #v do v[i] = tostring(v[i]) end return v
local v = {struct.unpack('>fd', struct.pack('>fd', 1.5, 0.1))} for i = 1, #v do v[i] = tostring(v[i]) end return v
return {struct.unpack('c2c0', '03abcdef')}
return {struct.unpack('bc0', '\3abcd')}
return {struct.unpack('c0', 'abcd')}
return {struct.unpack('bc0', '\9abcd')}
return {struct.unpack('bc0', '\255abcd')}
return {struct.unpack('ss', 'ab\0cd\0ef')}
return {struct.unpack('s', 'abc')}
return {struct.unpack('i', 'abc')}
return {struct.unpack('i', 'abcdefgh', 5)}
return {struct.unpack('i', 'abcdefgh', 6)}
return {struct.unpack('i', 'abcd', 0)}
return {struct.unpack('b', 'abc', -1)}
return {struct.unpack('!4bi', 'a\0\0\0\1\0\0\0')}
return {struct.unpack('xxb', 'abc')}
return {struct.unpack('q', 'abc')}
return {struct.unpack('b')}
return #{struct.unpack(string.rep('b', 7990), string.rep('a', 8000))}
return #{struct.unpack(string.rep('b', 8000), string.rep('a', 8000))}
return #{struct.unpack(string.rep('c1', 7990), string.rep('a', 8000))}
return {struct.size('bhilfdxc3'), struct.size('!8bd'), struct.size('!4bi'), struct.size('q'), struct.size('>i16'), struct.size('')}
return struct.size('s')
return struct.size('c0')
return struct.size('?')
return struct.size('!5')
return struct.size()
"##;

/// The Lua environment itself: global names as in Redis 7.0 (no `print`,
/// `__redis__err__handler` present), library tables read-only, errors
/// raised by library functions and `redis.call` seen through `pcall`,
/// `xpcall` and coroutines as Redis shows them, argument errors keeping the
/// script position even in tail position, values passing through the raw
/// accessors unchanged.
const ENVIRONMENT: &str = r##"local t = {} for k in pairs(_G) do t[#t + 1] = k end table.sort(t) return t
return type(print)
return __redis__err__handler('x')
local t = {} for _, lib in ipairs({'cjson', 'cmsgpack', 'bit', 'struct'}) do for k in pairs(_G[lib]) do t[#t + 1] = lib .. '.' .. k end end table.sort(t) return t
cjson.encode = nil
bit.band = function() return 0 end
rawset(struct, 'pack', nil)
setmetatable(cmsgpack, nil)
cjson.null = 1
local x = rawset() return x
local x = rawget() return x
local x = setmetatable() return x
local x = getmetatable() return x
local x = next() return x
local x = pairs() return x
local x = table.insert() return x
local x = rawset({}) return x
return rawset()
local function f() return rawset() end return f()
return rawget()
return next()
return pairs()
return table.insert()
return getmetatable()
return setmetatable()
return setmetatable({}, 1)
return setmetatable(setmetatable({}, {__metatable = 'locked'}), {})
return getmetatable(setmetatable({}, {__metatable = 'locked'}))
return type(getmetatable('').__index)
return setmetatable(getmetatable(''), {})
return setmetatable(_G, nil)
return getmetatable(_G) ~= nil
local t = setmetatable({}, {__index = function() return 7 end}) return {t.x, getmetatable(t) ~= nil}
return table.insert({}, 1, 2, 3)
return table.insert({}, 'x', 2)
return rawset({}, nil, 1)
return rawset({}, 0/0, 1)
table.insert(_G, 1)
rawset(redis, 'call', nil)
return rawget(redis, 'nosuch')
local t = {1e-300, -0.0} rawset(t, 3, 1e-310) table.insert(t, 2e-320) local out = {} for k, v in pairs(t) do out[#out + 1] = string.format('%.17g', rawget(t, k)) end local k, v = next(t) return {out, string.format('%.17g', v)}
local t = {} table.insert(t, 'a') table.insert(t, 1, 'b') table.insert(t, 5, 'c') return {t[1], t[2], t[5], #t}
local n = 0 for k, v in pairs(string) do n = n + 1 end return n
return select(1, pairs({})) == next
local ok, e = pcall(cjson.decode, '[1') return {tostring(ok), type(e), e}
local ok, e = pcall(function() return cjson.decode('[1') end) return {tostring(ok), type(e), e}
local ok, e = pcall(redis.call, 'nosuchcommand') return {tostring(ok), type(e), e}
local ok, e = pcall(redis.call, 'incr', 'k', 'x') return {tostring(ok), type(e), e}
local ok, e = pcall(error, {err = 'custom'}) return {tostring(ok), type(e), e}
local ok, e = pcall(error, {other = 1}) return {tostring(ok), type(e)}
local ok, e = pcall(error, 'plain') return {tostring(ok), type(e), e}
return {pcall()}
return {xpcall(function() return cjson.decode('[') end, function(e) return type(e) .. ':' .. tostring(e) end)}
return {xpcall(function() redis.call('nosuchcommand') end, function(e) return type(e) end)}
local co = coroutine.create(function() cjson.decode('[') end) return {coroutine.resume(co)}
local co = coroutine.create(function() redis.call('nosuchcommand') end) local ok, e = coroutine.resume(co) return {tostring(ok), type(e)}
local f = coroutine.wrap(function() cjson.decode('[') end) local x = f() return x
return cjson.decode('[')
return struct.unpack('i', 'ab')
"##;

#[test]
fn cjson_matches_redis() {
    same_as_redis(CJSON);
}

#[test]
fn cmsgpack_matches_redis() {
    same_as_redis(CMSGPACK);
}

#[test]
fn bit_matches_redis() {
    same_as_redis(BIT);
}

#[test]
fn struct_matches_redis() {
    same_as_redis(STRUCT);
}

#[test]
fn lua_environment_matches_redis() {
    same_as_redis(ENVIRONMENT);
}

/// Lua that prints any decoded value exactly (numbers with 17 digits,
/// strings quoted, table entries sorted: tables as keys hash by address),
/// without going through Rust or reply conversion.
const DUMP: &str = "local function dump(v, d) local t = type(v) if t == 'number' then return string.format('%.17g', v) elseif t == 'string' then return string.format('%q', v) elseif t == 'table' then if d > 60 then return '...' end local parts = {} for k, x in pairs(v) do parts[#parts + 1] = dump(k, d + 1) .. '=' .. dump(x, d + 1) end table.sort(parts) return '{' .. table.concat(parts, ',') .. '}' end return tostring(v == cjson.null and 'null' or v) end ";

/// Decodes `input` with both libraries (the values collected inside the
/// protected function: Lua 5.1's `pcall` pushes its status past the stack
/// it was given when a C function returns many values, an API-check abort
/// in debug builds).
fn decode_script(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let json = "local ok, v = pcall(function() return {cjson.decode(ARGV[1])} end) if not ok then return {0, v} end return {1, dump(v, 0)}";
    let msgpack = "local ok, v = pcall(function() return {cmsgpack.unpack(ARGV[1])} end) if not ok then return {0, v} end return {1, #v, dump(v, 0)}";
    [json, msgpack]
        .iter()
        .map(|s| {
            let body = format!("{DUMP}{s}");
            vec![
                b"EVAL".to_vec(),
                body.into_bytes(),
                b"0".to_vec(),
                input.to_vec(),
            ]
        })
        .collect()
}

/// Bytes that often form (almost) valid JSON or MessagePack.
fn fuzz_input() -> impl Strategy<Value = Vec<u8>> {
    let json_bits = prop::sample::select(vec![
        &b"["[..],
        b"]",
        b"{",
        b"}",
        b",",
        b":",
        b"\"",
        b"\\",
        b"\\u",
        b"d83d",
        b"1",
        b"-",
        b"0x",
        b"e",
        b".",
        b"true",
        b"null",
        b"nan",
        b"inf",
        b" ",
        b"\0",
        b"a",
        b"9e999",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        prop::collection::vec(json_bits, 0..24).prop_map(|parts| parts.concat()),
        prop::collection::vec(
            prop::sample::select(vec![
                0x00u8, 0x7f, 0x80, 0x81, 0x90, 0x91, 0x9f, 0xa1, 0xc0, 0xc1, 0xc2, 0xc3, 0xca,
                0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
                0xe0, 0xff, 0x41,
            ]),
            0..40,
        ),
    ]
}

/// Random bytes never break either decoder and get Redis' exact answer
/// (a fixed-seed sample, so runs are repeatable).
#[test]
fn random_bytes_decode_as_in_redis() {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let conns = std::cell::RefCell::new((RawConn::connect(redis.port), RawConn::connect(rc.port)));
    let config = Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&fuzz_input(), |input| {
            let (a, b) = &mut *conns.borrow_mut();
            assert_same_on(a, b, &decode_script(&input));
            Ok(())
        })
        .expect("same replies as redis-server");
    assert_alive(rc.port);
}
