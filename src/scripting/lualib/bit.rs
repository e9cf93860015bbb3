//! The `bit` library: LuaBitOp 1.0.2 (Redis' `deps/lua/src/lua_bit.c`,
//! with Redis' fix for `bit.tohex` of INT32_MIN digits). Operands are
//! numbers reduced to 32 bits the way LuaBitOp does (adding 2^52+2^51 and
//! keeping the low word, i.e. round-to-nearest modulo 2^32); results are
//! signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table};

use super::Call;

/// LuaBitOp's `barg`: argument `n` as 32 bits (numbers and numeric strings).
fn barg(call: &Call<'_>, n: usize) -> mlua::Result<u32> {
    let x = call.to_number(n).unwrap_or(0.0);
    let b = (x + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && call.to_number(n).is_none() {
        return Err(call.type_error(n, "number"));
    }
    Ok(b)
}

/// The result as Lua sees it: a signed 32-bit number.
fn ret(b: u32) -> f64 {
    f64::from(b as i32)
}

/// `bit.tohex(x [, n])`: `n` (default 8, at most 8) hex digits, uppercase
/// when `n` is negative.
fn tohex(call: &Call<'_>) -> mlua::Result<mlua::String> {
    let mut b = barg(call, 1)?;
    let mut n = if call.top() < 2 {
        8
    } else {
        barg(call, 2)? as i32
    };
    if n == i32::MIN {
        n = i32::MIN + 1;
    }
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    call.lua().create_string(&buf[..n])
}

/// `bit.band/bor/bxor`: the first argument, then the others from the last.
fn fold(call: &Call<'_>, op: Binary) -> mlua::Result<f64> {
    let mut b = barg(call, 1)?;
    for i in (2..=call.top()).rev() {
        b = op(b, barg(call, i)?);
    }
    Ok(ret(b))
}

/// `bit.lshift/rshift/arshift/rol/ror`: `x` shifted by `n & 31`.
fn shift(call: &Call<'_>, op: Binary) -> mlua::Result<f64> {
    let b = barg(call, 1)?;
    let n = barg(call, 2)? & 31;
    Ok(ret(op(b, n)))
}

/// A one-operand operation.
type Unary = fn(u32) -> u32;
/// A two-operand operation.
type Binary = fn(u32, u32) -> u32;

/// The `bit` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |b| b),
        ("bnot", |b| !b),
        ("bswap", u32::swap_bytes),
    ];
    for (name, op) in unary {
        let f = lua.create_function(move |lua, args: MultiValue| {
            let call = Call::new(lua, args);
            Ok(ret(op(barg(&call, 1)?)))
        })?;
        t.raw_set(name, f)?;
    }
    let folds: [(&str, Binary); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        let f =
            lua.create_function(move |lua, args: MultiValue| fold(&Call::new(lua, args), op))?;
        t.raw_set(name, f)?;
    }
    let shifts: [(&str, Binary); 5] = [
        ("lshift", |b, n| b << n),
        ("rshift", |b, n| b >> n),
        ("arshift", |b, n| ((b as i32) >> n) as u32),
        ("rol", u32::rotate_left),
        ("ror", u32::rotate_right),
    ];
    for (name, op) in shifts {
        let f =
            lua.create_function(move |lua, args: MultiValue| shift(&Call::new(lua, args), op))?;
        t.raw_set(name, f)?;
    }
    t.raw_set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| tohex(&Call::new(lua, args)))?,
    )?;
    Ok(t)
}
