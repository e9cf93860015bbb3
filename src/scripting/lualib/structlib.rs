//! The `struct` library (Roberto Ierusalimschy's struct.c 0.2 as Redis 7.0
//! ships it in `deps/lua/src/lua_struct.c`): `pack`, `unpack` and `size`
//! with its formats (`>`/`<` endianness, `!n` alignment, `x` padding,
//! `b/B h/H l/L T i/In` integers up to 32 bytes, `f`/`d` floats, `cn`/`s`
//! strings) and its error texts, on x86-64 sizes (`long` and `size_t` of
//! 8 bytes, `int` of 4, maximum alignment 8, native little endian).

use mlua::{Lua, MultiValue, Table, Value};

use super::{number_to_i64, spreading, Call, Results};

/// Largest integer size (`MAXINTSIZE`).
const MAX_INT_SIZE: i64 = 32;
/// Default alignment of `!` (`MAXALIGN`).
const MAX_ALIGN: i64 = 8;
/// Lua's `LUAI_MAXCSTACK`: the most stack slots a C function may use.
const MAX_C_STACK: usize = 8000;

/// Parse state of a format string.
struct Format<'f> {
    fmt: &'f [u8],
    pos: usize,
    big_endian: bool,
    align: usize,
}

/// C's `(unsigned long)` cast of a double as gcc compiles it on x86-64.
fn c_to_u64(n: f64) -> u64 {
    if n >= 9_223_372_036_854_775_808.0 {
        (number_to_i64(n - 9_223_372_036_854_775_808.0) as u64) ^ (1 << 63)
    } else {
        number_to_i64(n) as u64
    }
}

impl<'f> Format<'f> {
    fn new(fmt: &'f [u8]) -> Format<'f> {
        Format {
            fmt,
            pos: 0,
            big_endian: false,
            align: 1,
        }
    }

    /// The next option character (the C loop stops at the first NUL).
    fn next_opt(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.pos)?;
        if c == 0 {
            return None;
        }
        self.pos += 1;
        Some(c)
    }

    /// `getnum`: a decimal count after an option, or `default`.
    fn number(&mut self, call: &Call<'_>, default: i64) -> mlua::Result<i64> {
        let digit = |f: &Self| f.fmt.get(f.pos).copied().filter(u8::is_ascii_digit);
        if digit(self).is_none() {
            return Ok(default);
        }
        let mut a: i64 = 0;
        while let Some(d) = digit(self) {
            let d = i64::from(d - b'0');
            if a > i64::from(i32::MAX) / 10 || a * 10 > i64::from(i32::MAX) - d {
                return Err(call.error("integral size overflow"));
            }
            a = a * 10 + d;
            self.pos += 1;
        }
        Ok(a)
    }

    /// `optsize`: the size of option `opt` (0 for control options).
    fn size(&mut self, call: &Call<'_>, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(call, 1)? as usize,
            b'i' | b'I' => {
                let size = self.number(call, 4)?;
                if size > MAX_INT_SIZE {
                    return Err(call.error(format!(
                        "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                    )));
                }
                size as usize
            }
            _ => 0,
        })
    }

    /// `gettoalign`: padding before an item of `size` at offset `len`.
    fn padding(&self, len: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.align);
        size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
    }

    /// `controloptions`: endianness, alignment, blanks; anything else is
    /// an invalid option.
    fn control(&mut self, call: &Call<'_>, opt: u8) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.big_endian = true,
            b'<' => self.big_endian = false,
            b'!' => {
                let a = self.number(call, MAX_ALIGN)?;
                if a <= 0 || a & (a - 1) != 0 {
                    return Err(call.error(format!("alignment {a} is not a power of 2")));
                }
                self.align = a as usize;
            }
            _ => {
                return Err(
                    call.arg_error(1, &format!("invalid format option '{}'", char::from(opt)))
                )
            }
        }
        Ok(())
    }

    /// Puts `bytes` (little-endian order) in the format's byte order.
    fn order(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if self.big_endian {
            bytes.reverse();
        }
        bytes
    }
}

/// `putinteger`: `size` bytes of the number's two's complement (bytes past
/// the 8th are zero).
fn put_integer(out: &mut Vec<u8>, f: &Format<'_>, n: f64, size: usize) {
    let mut value = if n < 0.0 {
        number_to_i64(n) as u64
    } else {
        c_to_u64(n)
    };
    let mut le = Vec::with_capacity(size);
    for _ in 0..size {
        le.push((value & 0xff) as u8);
        value >>= 8;
    }
    out.extend_from_slice(&f.order(le));
}

/// `getinteger`: the number stored in `bytes`, as C computes it on 64 bits.
fn get_integer(bytes: &[u8], big_endian: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut push = |b: u8| l = (l << 8) | u64::from(b);
    if big_endian {
        bytes.iter().copied().for_each(&mut push);
    } else {
        bytes.iter().rev().copied().for_each(&mut push);
    }
    if !signed {
        return l as f64;
    }
    // C shifts by `size*8 - 1`; x86 takes the count modulo 64.
    let mask = u64::MAX.wrapping_shl((bytes.len() as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.pack(fmt, ...)`.
fn pack(mut call: Call<'_>) -> mlua::Result<mlua::String> {
    let fmt = call.check_string(1)?;
    // b_pack pushes a nil mark after its arguments: checks of the next
    // argument see nil, not "no value".
    call.push_nil();
    let call = &call;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut arg = 2;
    let mut out: Vec<u8> = Vec::new();
    let mut total: usize = 0;
    while let Some(opt) = f.next_opt() {
        let mut size = f.size(call, opt)?;
        let pad = f.padding(total, opt, size);
        total += pad;
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = call.check_number(arg)?;
                arg += 1;
                put_integer(&mut out, &f, n, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = call.check_number(arg)? as f32;
                arg += 1;
                out.extend_from_slice(&f.order(n.to_le_bytes().to_vec()));
            }
            b'd' => {
                let n = call.check_number(arg)?;
                arg += 1;
                out.extend_from_slice(&f.order(n.to_le_bytes().to_vec()));
            }
            b'c' | b's' => {
                let s = call.check_string(arg)?;
                arg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(call.arg_error(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                    size += 1;
                }
            }
            _ => f.control(call, opt)?,
        }
        total += size;
    }
    call.lua().create_string(&out)
}

/// `struct.unpack(fmt, data [, pos])`: the values, then the position
/// after them.
fn unpack(call: &Call<'_>) -> mlua::Result<(Table, usize)> {
    let fmt = call.check_string(1)?;
    let fmt = fmt.as_bytes();
    let data = call.check_string(2)?;
    let data = data.as_bytes();
    let ld = data.len();
    // C keeps the position in a size_t.
    let pos = call.opt_integer(3, 1)? as u64 as usize;
    if pos == 0 {
        return Err(call.arg_error(3, "offset must be 1 or greater"));
    }
    let mut pos = pos - 1;
    let mut f = Format::new(&fmt);
    let lua = call.lua();
    let mut out = Results::new(lua)?;
    let short = || call.arg_error(2, "data string too short");
    while let Some(opt) = f.next_opt() {
        let mut size = f.size(call, opt)?;
        pos = pos.wrapping_add(f.padding(pos, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        if call.top() + out.len() + 2 > MAX_C_STACK {
            return Err(call.error("stack overflow (too many results)"));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = get_integer(
                    &data[pos..pos + size],
                    f.big_endian,
                    opt.is_ascii_lowercase(),
                );
                out.push(Value::Number(n))?;
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&data[pos..pos + 4]);
                let v = if f.big_endian {
                    f32::from_be_bytes(b)
                } else {
                    f32::from_le_bytes(b)
                };
                out.push(Value::Number(f64::from(v)))?;
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&data[pos..pos + 8]);
                let v = if f.big_endian {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                };
                out.push(Value::Number(v))?;
            }
            b'c' => {
                if size == 0 {
                    let last = if out.len() == 0 {
                        Value::Nil
                    } else {
                        out.last()?
                    };
                    let previous = Some(last).and_then(|v| match v {
                        Value::Integer(i) => Some(i as f64),
                        Value::Number(n) => Some(n),
                        v @ Value::String(_) => lua.coerce_number(v).ok().flatten(),
                        _ => None,
                    });
                    let Some(n) = previous else {
                        return Err(call.error("format 'c0' needs a previous size"));
                    };
                    out.pop()?;
                    size = c_to_u64(n) as usize;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?))?;
            }
            b's' => {
                let Some(end) = memchr::memchr(0, &data[pos..]) else {
                    return Err(call.error("unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?))?;
                size = end + 1;
            }
            _ => f.control(call, opt)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as i64 as f64))?;
    Ok(out.finish())
}

/// `struct.size(fmt)`: the bytes `pack` writes for a fixed-size format.
fn size(call: &Call<'_>) -> mlua::Result<f64> {
    let fmt = call.check_string(1)?;
    let fmt = fmt.as_bytes();
    let mut f = Format::new(&fmt);
    let mut pos: usize = 0;
    while let Some(opt) = f.next_opt() {
        let size = f.size(call, opt)?;
        pos += f.padding(pos, opt, size);
        if opt == b's' {
            return Err(call.arg_error(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(call.arg_error(1, "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(call, opt)?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

/// The `struct` table.
pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| pack(Call::new(lua, args)))?,
    )?;
    t.raw_set(
        "unpack",
        spreading(
            lua,
            lua.create_function(|lua, args: MultiValue| unpack(&Call::spread(lua, args)))?,
        )?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: MultiValue| size(&Call::new(lua, args)))?,
    )?;
    Ok(t)
}
