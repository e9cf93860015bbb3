//! The `cmsgpack` library: lua-cmsgpack 0.4.0 as Redis 7.0 ships it
//! (`deps/lua/src/lua_cmsgpack.c`): `pack` of one or more values (integral
//! numbers as the smallest MessagePack integer, others as float 32 when
//! exact, else float 64; tables as arrays when their keys are exactly
//! 1..n, else maps; tables nested 16 deep, e.g. circular references,
//! become nil) and `unpack`, `unpack_one`, `unpack_limit` with the same
//! results and error texts. Nested data is walked with an explicit stack
//! that counts the Lua stack slots the C code would hold, so limits fail
//! the same way.

use mlua::{Lua, MultiValue, Table, Value};

use super::{number_to_i64, spreading, Call, Origin, Results};

/// Tables nested this deep are packed as nil (`LUACMSGPACK_MAX_NESTING`).
const MAX_NESTING: usize = 16;
/// Lua's `LUAI_MAXCSTACK`: the most stack slots a C function may use.
const MAX_C_STACK: usize = 8000;

/// `IS_INT_TYPE_EQUIVALENT` for `int`: C's `(int)x == x` on x86-64.
fn is_int_equivalent(x: f64) -> bool {
    x.is_finite() && x > -2_147_483_649.0 && x < 2_147_483_648.0 && (x as i32) as f64 == x
}

/// `IS_INT64_EQUIVALENT`: C's `(int64_t)x == x` on x86-64.
fn is_int64_equivalent(x: f64) -> bool {
    !x.is_infinite() && number_to_i64(x) as f64 == x
}

fn encode_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, op16: u8, op32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(op16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(op32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// `mp_encode_int`: the smallest MessagePack integer holding `n`.
fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `mp_encode_lua_number`.
fn encode_number(out: &mut Vec<u8>, n: f64) {
    if is_int64_equivalent(n) {
        encode_int(out, number_to_i64(n));
        return;
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// `table_is_an_array`: keys are exactly the integers 1..n.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let mut count: i64 = 0;
    let mut max: i64 = 0;
    let mut array = true;
    t.for_each(|k: Value, _: Value| {
        if !array {
            return Ok(());
        }
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => {
                array = false;
                return Ok(());
            }
        };
        if n <= 0.0 || !is_int_equivalent(n) {
            array = false;
            return Ok(());
        }
        max = max.max(n as i64);
        count += 1;
        Ok(())
    })?;
    Ok(array && max == count)
}

/// `mp_encode_lua_type` for one value at nesting `level`.
fn encode_value(
    lua: &Lua,
    out: &mut Vec<u8>,
    v: &Value,
    origin: Origin<'_>,
    level: usize,
) -> mlua::Result<()> {
    match v {
        Value::Table(_) if level == MAX_NESTING => out.push(0xc0),
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(_) | Value::Number(_) => {
            encode_number(out, origin.number(lua, v).unwrap_or(0.0))
        }
        Value::Table(t) => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for j in 1..=len {
                    let item: Value = t.get(j)?;
                    let key = Value::Integer(j as i64);
                    encode_value(lua, out, &item, Origin::Field(t, &key), level + 1)?;
                }
            } else {
                // Counted first, then walked (no pairs kept: mlua has room
                // for about 8000 references).
                let mut count = 0;
                t.for_each(|_: Value, _: Value| {
                    count += 1;
                    Ok(())
                })?;
                encode_len(out, count, 0x80, 15, 0xde, 0xdf);
                t.for_each(|k: Value, v: Value| {
                    // A key is read as mlua shows it; its value exactly.
                    encode_value(lua, out, &k, Origin::Field(t, &Value::Nil), level + 1)?;
                    encode_value(lua, out, &v, Origin::Field(t, &k), level + 1)
                })?;
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

/// `cmsgpack.pack(...)`.
fn pack(call: &Call<'_>) -> mlua::Result<mlua::String> {
    let args = call.values();
    if args.is_empty() {
        return Err(call.arg_error(0, "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for (i, v) in args.iter().enumerate() {
        encode_value(call.lua(), &mut out, v, call.origin(i + 1), 0)?;
    }
    call.lua().create_string(&out)
}

/// Why decoding stopped.
enum Stop {
    /// Not enough bytes (`Missing bytes in input.`).
    Eof,
    /// A byte no MessagePack type starts with.
    BadFormat,
    /// A Lua error raised on the spot.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Stop {
    fn from(e: mlua::Error) -> Stop {
        Stop::Lua(e)
    }
}

/// A container being decoded (the table itself is in the decoder's `path`
/// Lua table at its depth, a map's pending key in `keys`).
enum Building {
    Array { next: i64, left: u64 },
    Map { left: u64, has_key: bool },
}

/// The decoder's input.
struct Cursor<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `n` bytes, consumed.
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        if self.left() < n {
            return Err(Stop::Eof);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// `mp_decode_to_lua_type`: one value, with `used` Lua stack slots
/// already held by the caller.
fn decode_one(call: &Call<'_>, c: &mut Cursor<'_>, mut used: usize) -> Result<Value, Stop> {
    let lua = call.lua();
    let mut stack: Vec<Building> = Vec::new();
    let path = lua.create_table()?;
    let keys = lua.create_table()?;
    loop {
        if c.left() < 1 {
            return Err(Stop::Eof);
        }
        if used + 1 > MAX_C_STACK {
            return Err(Stop::Lua(call.error(
                "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)",
            )));
        }
        let b = c.data[c.pos];
        let mut container: Option<(bool, u64)> = None;
        let mut value = match b {
            0xcc => {
                c.take(1)?;
                Value::Number(c.be(1)? as f64)
            }
            0xd0 => {
                c.take(1)?;
                Value::Number(f64::from(c.be(1)? as u8 as i8))
            }
            0xcd => {
                c.take(1)?;
                Value::Number(c.be(2)? as f64)
            }
            0xd1 => {
                c.take(1)?;
                Value::Number(f64::from(c.be(2)? as u16 as i16))
            }
            0xce => {
                c.take(1)?;
                Value::Number(c.be(4)? as f64)
            }
            0xd2 => {
                c.take(1)?;
                Value::Number(f64::from(c.be(4)? as u32 as i32))
            }
            // lua_pushunsigned is lua_pushinteger on 64 bits: wraps.
            0xcf | 0xd3 => {
                c.take(1)?;
                Value::Number(c.be(8)? as i64 as f64)
            }
            0xc0 => {
                c.take(1)?;
                Value::Nil
            }
            0xc3 | 0xc2 => {
                c.take(1)?;
                Value::Boolean(b == 0xc3)
            }
            0xca => {
                c.take(1)?;
                Value::Number(f64::from(f32::from_bits(c.be(4)? as u32)))
            }
            0xcb => {
                c.take(1)?;
                Value::Number(f64::from_bits(c.be(8)?))
            }
            0xd9..=0xdb => {
                let width = match b {
                    0xd9 => 1,
                    0xda => 2,
                    _ => 4,
                };
                if c.left() < 1 + width {
                    return Err(Stop::Eof);
                }
                let mut peek = Cursor {
                    data: c.data,
                    pos: c.pos + 1,
                };
                let len = peek.be(width)? as usize;
                if c.left() < 1 + width + len {
                    return Err(Stop::Eof);
                }
                c.take(1 + width)?;
                Value::String(lua.create_string(c.take(len)?)?)
            }
            0xdc..=0xdf => {
                let width = if b == 0xdc || b == 0xde { 2 } else { 4 };
                if c.left() < 1 + width {
                    return Err(Stop::Eof);
                }
                c.take(1)?;
                container = Some((b <= 0xdd, c.be(width)?));
                Value::Nil
            }
            b if b & 0x80 == 0 => {
                c.take(1)?;
                Value::Number(f64::from(b))
            }
            b if b & 0xe0 == 0xe0 => {
                c.take(1)?;
                Value::Number(f64::from(b as i8))
            }
            b if b & 0xe0 == 0xa0 => {
                let len = usize::from(b & 0x1f);
                if c.left() < 1 + len {
                    return Err(Stop::Eof);
                }
                c.take(1)?;
                Value::String(lua.create_string(c.take(len)?)?)
            }
            b if b & 0xf0 == 0x90 || b & 0xf0 == 0x80 => {
                c.take(1)?;
                container = Some((b & 0xf0 == 0x90, u64::from(b & 0xf)));
                Value::Nil
            }
            _ => return Err(Stop::BadFormat),
        };
        if let Some((array, len)) = container {
            let table = lua.create_table()?;
            if array {
                if used + 2 > MAX_C_STACK {
                    return Err(Stop::Lua(
                        call.error("stack overflow (in function mp_decode_to_lua_array)"),
                    ));
                }
                if len > 0 {
                    path.raw_set(stack.len() + 1, table)?;
                    stack.push(Building::Array { next: 1, left: len });
                    used += 2;
                    continue;
                }
            } else if len > 0 {
                path.raw_set(stack.len() + 1, table)?;
                stack.push(Building::Map {
                    left: len,
                    has_key: false,
                });
                used += 1;
                continue;
            }
            value = Value::Table(table);
        }
        // Hand the value to its container, closing those that are full.
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else {
                return Ok(value);
            };
            let table: Table = path.raw_get(depth)?;
            match top {
                Building::Array { next, left } => {
                    table.raw_set(*next, value)?;
                    *next += 1;
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                }
                Building::Map { left, has_key } => {
                    if !*has_key {
                        *has_key = true;
                        keys.raw_set(depth, value)?;
                        used += 1;
                        break;
                    }
                    *has_key = false;
                    let k: Value = keys.raw_get(depth)?;
                    match &k {
                        // lua_settable's own errors (no position: raised in C).
                        Value::Nil => {
                            return Err(Stop::Lua(mlua::Error::RuntimeError(
                                "table index is nil".into(),
                            )))
                        }
                        Value::Number(n) if n.is_nan() => {
                            return Err(Stop::Lua(mlua::Error::RuntimeError(
                                "table index is NaN".into(),
                            )))
                        }
                        _ => table.raw_set(k, value)?,
                    }
                    keys.raw_set(depth, Value::Nil)?;
                    used -= 1;
                    *left -= 1;
                    if *left > 0 {
                        break;
                    }
                }
            }
            // The container is full: it is the value handed to its parent.
            used -= match stack.pop() {
                Some(Building::Array { .. }) => 2,
                _ => 1,
            };
            path.raw_set(depth, Value::Nil)?;
            value = Value::Table(table);
        }
    }
}

/// `mp_unpack_full`: up to `limit` values from `offset` (both 0: all of
/// them, without the offset result); `used` is the caller's stack slots.
fn unpack_full(
    call: &Call<'_>,
    data: &[u8],
    limit: i64,
    offset: i64,
    used: usize,
) -> mlua::Result<(Table, usize)> {
    let len = data.len();
    if offset < 0 || limit < 0 {
        // The C message prints the input length where it says limit.
        return Err(call.error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(call.error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        data,
        pos: offset as usize,
    };
    let mut out = Results::new(call.lua())?;
    if !decode_all {
        // The next offset comes first; set once known.
        out.push(Value::Nil)?;
    }
    let offset_slot = usize::from(!decode_all);
    let mut count: i64 = 0;
    while c.left() > 0 && count < limit {
        match decode_one(call, &mut c, used + count as usize) {
            Ok(v) => out.push(v)?,
            Err(Stop::Eof) => return Err(call.error("Missing bytes in input.")),
            Err(Stop::BadFormat) => return Err(call.error("Bad data format in input.")),
            Err(Stop::Lua(e)) => return Err(e),
        }
        count += 1;
    }
    if offset_slot == 1 {
        let next = if c.left() == 0 { -1.0 } else { c.pos as f64 };
        out.set(1, Value::Number(next))?;
    }
    Ok(out.finish())
}

/// The `cmsgpack` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| pack(&Call::new(lua, args)))?,
    )?;
    t.raw_set(
        "unpack",
        spreading(
            lua,
            lua.create_function(|lua, args: MultiValue| {
                let call = Call::spread(lua, args);
                let s = call.check_string(1)?;
                unpack_full(&call, &s.as_bytes(), 0, 0, call.top())
            })?,
        )?,
    )?;
    t.raw_set(
        "unpack_one",
        spreading(
            lua,
            lua.create_function(|lua, args: MultiValue| {
                let call = Call::spread(lua, args);
                let offset = call.opt_integer(2, 0)?;
                let s = call.check_string(1)?;
                unpack_full(&call, &s.as_bytes(), 1, offset, 1)
            })?,
        )?,
    )?;
    t.raw_set(
        "unpack_limit",
        spreading(
            lua,
            lua.create_function(|lua, args: MultiValue| {
                let call = Call::spread(lua, args);
                let limit = call.check_integer(2)?;
                let offset = call.opt_integer(3, 0)?;
                let s = call.check_string(1)?;
                unpack_full(&call, &s.as_bytes(), limit, offset, 1)
            })?,
        )?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}
