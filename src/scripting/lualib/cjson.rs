//! The `cjson` library: Lua CJSON 2.1.0 as Redis 7.0 ships it
//! (`deps/lua/src/lua_cjson.c`, numbers through its `fpconv.c`, i.e. C's
//! `snprintf("%.14g")` and `strtod`), with the same configuration functions,
//! defaults (nesting limits 1000, invalid numbers refused when encoding and
//! accepted when decoding), escaping (including `\/`), sparse-array rules
//! and error texts.
//!
//! The C code recurses and checks Lua's C-stack allowance
//! (`lua_checkstack`) at every level; these ports walk nested values with an
//! explicit stack and count the slots the C code would hold, so the same
//! nesting fails with the same error whatever limit a script configures.

use std::ffi::CString;
use std::sync::Arc;

use mlua::{Function, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::{type_name, Call, Origin};
use crate::resp::reply::format_c;
use crate::util::c_strtod;

/// Lua's `LUAI_MAXCSTACK`: the most stack slots a C function may use.
const MAX_C_STACK: usize = 8000;

/// One `cjson` table's configuration (`json_config_t`).
#[derive(Debug, Clone, Copy)]
struct Config {
    sparse_convert: i32,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 refuse, 1 allow (`nan`/`inf`), 2 encode as `null`.
    encode_invalid_numbers: i32,
    encode_number_precision: i32,
    encode_keep_buffer: i32,
    decode_invalid_numbers: i32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: 0,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            encode_number_precision: 14,
            encode_keep_buffer: 1,
            decode_invalid_numbers: 1,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

/// `json_arg_init`: at most `n` arguments.
fn arg_init(call: &Call<'_>, n: usize) -> mlua::Result<()> {
    if call.top() > n {
        return Err(call.arg_error(n + 1, "found too many arguments"));
    }
    Ok(())
}

/// `json_integer_option`: sets `setting` from argument `idx` (an `int`,
/// so C keeps the low 32 bits) when given; returns the setting.
fn integer_option(
    call: &Call<'_>,
    idx: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> mlua::Result<Value> {
    if !call.is_none_or_nil(idx) {
        let value = call.check_integer(idx)? as i32;
        if value < min || value > max {
            // The C code names argument 1 whichever it checks.
            return Err(call.arg_error(1, &format!("expected integer between {min} and {max}")));
        }
        *setting = value;
    }
    Ok(Value::Number(f64::from(*setting)))
}

/// `json_enum_option`: a boolean or one of `options` (default off/on).
fn enum_option(
    call: &Call<'_>,
    idx: usize,
    setting: &mut i32,
    options: &[&str],
) -> mlua::Result<Value> {
    if !call.is_none_or_nil(idx) {
        if let Value::Boolean(b) = call.arg(idx) {
            *setting = i32::from(b);
        } else {
            let name = call.check_string(idx)?;
            let name = name.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(i) => *setting = i as i32,
                None => {
                    let shown = String::from_utf8_lossy(&name).into_owned();
                    return Err(call.arg_error(idx, &format!("invalid option '{shown}'")));
                }
            }
        }
    }
    if *setting == 0 || *setting == 1 {
        return Ok(Value::Boolean(*setting == 1));
    }
    let name = options.get(*setting as usize).copied().unwrap_or("");
    Ok(Value::String(call.lua().create_string(name)?))
}

const ON_OFF: [&str; 2] = ["off", "on"];

/// `Cannot serialise <type>: <reason>`.
fn serialise_error(call: &Call<'_>, v: &Value, reason: &str) -> mlua::Error {
    call.error(format!("Cannot serialise {}: {reason}", type_name(v)))
}

/// Appends `s` as a JSON string with cjson's escapes.
fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// The encoder's state for one `cjson.encode` call.
struct Encoder<'c, 'l> {
    call: &'c Call<'l>,
    cfg: Config,
    number_format: CString,
    out: Vec<u8>,
    /// `path[d]`: the table open at depth `d`; `keys[d]`: its last key.
    /// Kept in Lua so deep nesting holds no Rust references (mlua has
    /// room for about 8000).
    path: Table,
    keys: Table,
    /// Lua's raw `next`.
    next: Function,
}

/// A table being encoded, with the Lua stack slots the C code would use
/// for its children.
enum Open {
    Array { next: i64, len: i64, used: usize },
    Object { first: bool, used: usize },
}

/// C's `(int)` cast of a double on x86-64.
fn c_to_i32(n: f64) -> i32 {
    if n.is_finite() && n > -2_147_483_649.0 && n < 2_147_483_648.0 {
        n as i32
    } else {
        i32::MIN
    }
}

impl Encoder<'_, '_> {
    /// `json_append_number`.
    fn number(&mut self, v: &Value, n: f64) -> mlua::Result<()> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => return Err(serialise_error(self.call, v, "must not be NaN or Inf")),
                1 if n.is_nan() => {
                    self.out.extend_from_slice(b"nan");
                    return Ok(());
                }
                1 => {}
                _ => {
                    self.out.extend_from_slice(b"null");
                    return Ok(());
                }
            }
        }
        self.out
            .extend_from_slice(format_c(&self.number_format, n).as_bytes());
        Ok(())
    }

    /// `lua_array_length`: the array size of `t`, or None for an object.
    fn array_length(&self, t: &Table) -> mlua::Result<Option<i64>> {
        let mut max: i32 = 0;
        let mut items: i32 = 0;
        let mut array = true;
        t.for_each(|k: Value, _: Value| {
            if !array {
                return Ok(());
            }
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => 0.0,
            };
            if k != 0.0 && k.floor() == k && k >= 1.0 {
                if k > f64::from(max) {
                    max = c_to_i32(k);
                }
                items = items.wrapping_add(1);
            } else {
                array = false;
            }
            Ok(())
        })?;
        if !array {
            return Ok(None);
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0
            && max > items.wrapping_mul(cfg.sparse_ratio)
            && max > cfg.sparse_safe
        {
            if cfg.sparse_convert == 0 {
                return Err(self
                    .call
                    .error("Cannot serialise table: excessively sparse array"));
            }
            return Ok(None);
        }
        Ok(Some(i64::from(max)))
    }

    /// Appends a value; a table is opened (its brackets written, its
    /// children left for the caller) and returned.
    fn value(
        &mut self,
        v: Value,
        origin: Origin<'_>,
        depth: usize,
        used: usize,
    ) -> mlua::Result<Option<Open>> {
        match &v {
            Value::String(s) => append_string(&mut self.out, &s.as_bytes()),
            Value::Integer(_) | Value::Number(_) => {
                let n = origin.number(self.call.lua(), &v).unwrap_or(0.0);
                self.number(&v, n)?
            }
            Value::Boolean(true) => self.out.extend_from_slice(b"true"),
            Value::Boolean(false) => self.out.extend_from_slice(b"false"),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            Value::Table(t) => {
                if depth > self.cfg.encode_max_depth as usize || used + 3 > MAX_C_STACK {
                    return Err(self
                        .call
                        .error(format!("Cannot serialise, excessive nesting ({depth})")));
                }
                let open = match self.array_length(t)? {
                    Some(len) if len > 0 => {
                        self.out.push(b'[');
                        Open::Array {
                            next: 1,
                            len,
                            used: used + 1,
                        }
                    }
                    _ => {
                        self.out.push(b'{');
                        Open::Object {
                            first: true,
                            used: used + 2,
                        }
                    }
                };
                self.path.raw_set(depth, t)?;
                self.keys.raw_set(depth, Value::Nil)?;
                return Ok(Some(open));
            }
            other => return Err(serialise_error(self.call, other, "type not supported")),
        }
        Ok(None)
    }

    /// `json_append_data` over a whole value.
    fn encode(&mut self, v: Value) -> mlua::Result<()> {
        let mut stack: Vec<Open> = Vec::new();
        if let Some(open) = self.value(v, self.call.origin(1), 1, 1)? {
            stack.push(open);
        }
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            let table: Table = self.path.raw_get(depth)?;
            let (child, key, used) = match top {
                Open::Array { next, len, used } => {
                    if *next > *len {
                        self.out.push(b']');
                        stack.pop();
                        self.path.raw_set(depth, Value::Nil)?;
                        continue;
                    }
                    if *next > 1 {
                        self.out.push(b',');
                    }
                    let key = Value::Integer(*next);
                    let child: Value = table.raw_get(*next)?;
                    *next += 1;
                    (child, key, *used)
                }
                Open::Object { first, used } => {
                    let key: Value = self.keys.raw_get(depth)?;
                    let (k, child): (Value, Value) = self.next.call((table.clone(), key))?;
                    if k == Value::Nil {
                        self.out.push(b'}');
                        stack.pop();
                        self.path.raw_set(depth, Value::Nil)?;
                        self.keys.raw_set(depth, Value::Nil)?;
                        continue;
                    }
                    if !*first {
                        self.out.push(b',');
                    }
                    *first = false;
                    let used = *used;
                    match &k {
                        Value::Integer(i) => {
                            self.out.push(b'"');
                            self.number(&k, *i as f64)?;
                            self.out.extend_from_slice(b"\":");
                        }
                        Value::Number(n) => {
                            self.out.push(b'"');
                            self.number(&k, *n)?;
                            self.out.extend_from_slice(b"\":");
                        }
                        Value::String(s) => {
                            append_string(&mut self.out, &s.as_bytes());
                            self.out.push(b':');
                        }
                        _ => {
                            return Err(serialise_error(
                                self.call,
                                &k,
                                "table key must be a number or string",
                            ))
                        }
                    }
                    self.keys.raw_set(depth, k.clone())?;
                    (child, k, used)
                }
            };
            let origin = Origin::Field(&table, &key);
            if let Some(open) = self.value(child, origin, depth + 1, used)? {
                stack.push(open);
            }
        }
    }
}

/// `cjson.encode(value)`.
fn encode(call: &Call<'_>, cfg: Config, next: &Function) -> mlua::Result<mlua::String> {
    if call.top() != 1 {
        return Err(call.arg_error(1, "expected 1 argument"));
    }
    let number_format = CString::new(format!("%.{}g", cfg.encode_number_precision))
        .map_err(mlua::Error::external)?;
    let lua = call.lua();
    let mut enc = Encoder {
        call,
        cfg,
        number_format,
        out: Vec::new(),
        path: lua.create_table()?,
        keys: lua.create_table()?,
        next: next.clone(),
    };
    enc.encode(call.arg(1))?;
    call.lua().create_string(&enc.out)
}

/// Token types, named as cjson's messages name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str,
    Number,
    Boolean,
    Null,
    Colon,
    Comma,
    End,
    Error,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number => "T_NUMBER",
            Kind::Boolean => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error => "T_ERROR",
        }
    }
}

/// One token: its kind, where it starts (or where the error is), and its
/// value.
struct Token {
    kind: Kind,
    index: usize,
    string: Vec<u8>,
    number: f64,
    boolean: bool,
    error: &'static str,
}

/// The decoder's position in the input (seen as C sees it: a NUL after the
/// end).
struct Parser<'d> {
    data: &'d [u8],
    pos: usize,
    invalid_numbers: bool,
}

fn hex_digit(c: u8) -> Option<u32> {
    (c as char).to_digit(16)
}

/// UTF-8 bytes of a code point up to 0x1FFFFF (cjson's `codepoint_to_utf8`).
fn push_utf8(out: &mut Vec<u8>, cp: u32) {
    if cp <= 0x7f {
        out.push(cp as u8);
    } else if cp <= 0x7ff {
        out.extend_from_slice(&[(cp >> 6) as u8 | 0xc0, (cp & 0x3f) as u8 | 0x80]);
    } else if cp <= 0xffff {
        out.extend_from_slice(&[
            (cp >> 12) as u8 | 0xe0,
            ((cp >> 6) & 0x3f) as u8 | 0x80,
            (cp & 0x3f) as u8 | 0x80,
        ]);
    } else {
        out.extend_from_slice(&[
            (cp >> 18) as u8 | 0xf0,
            ((cp >> 12) & 0x3f) as u8 | 0x80,
            ((cp >> 6) & 0x3f) as u8 | 0x80,
            (cp & 0x3f) as u8 | 0x80,
        ]);
    }
}

impl Parser<'_> {
    fn at(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn token(&self, kind: Kind, index: usize) -> Token {
        Token {
            kind,
            index,
            string: Vec::new(),
            number: 0.0,
            boolean: false,
            error: "",
        }
    }

    fn error_token(&self, what: &'static str) -> Token {
        let mut t = self.token(Kind::Error, self.pos);
        t.error = what;
        t
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0, |acc, i| Some((acc << 4) | hex_digit(self.at(at + i))?))
    }

    /// `json_append_unicode_escape` at a `\u`: appends the character and
    /// moves past the escape(s).
    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let mut cp = self.hex4(self.pos + 2)?;
        let mut escape_len = 6;
        if cp & 0xf800 == 0xd800 {
            if cp & 0x400 != 0 {
                return None;
            }
            if self.at(self.pos + 6) != b'\\' || self.at(self.pos + 7) != b'u' {
                return None;
            }
            let low = self.hex4(self.pos + 8)?;
            if low & 0xfc00 != 0xdc00 {
                return None;
            }
            cp = (((cp & 0x3ff) << 10) | (low & 0x3ff)) + 0x10000;
            escape_len = 12;
        }
        push_utf8(out, cp);
        self.pos += escape_len;
        Some(())
    }

    fn string_token(&mut self) -> Token {
        self.pos += 1;
        let mut s = Vec::new();
        loop {
            let ch = self.at(self.pos);
            if ch == b'"' {
                break;
            }
            if ch == 0 {
                return self.error_token("unexpected end of string");
            }
            let mut c = ch;
            if ch == b'\\' {
                c = match self.at(self.pos + 1) {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 8,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'f' => 12,
                    b'r' => b'\r',
                    b'u' => {
                        if self.unicode_escape(&mut s).is_some() {
                            continue;
                        }
                        return self.error_token("invalid unicode escape code");
                    }
                    _ => return self.error_token("invalid escape code"),
                };
                self.pos += 1;
            }
            s.push(c);
            self.pos += 1;
        }
        self.pos += 1;
        let mut t = self.token(Kind::Str, 0);
        t.string = s;
        t
    }

    /// `json_is_invalid_number`: forms strtod takes that JSON does not.
    fn is_invalid_number(&self) -> bool {
        let mut p = self.pos;
        if self.at(p) == b'+' {
            return true;
        }
        if self.at(p) == b'-' {
            p += 1;
        }
        let c = self.at(p);
        if c == b'0' {
            let c2 = self.at(p + 1);
            return (c2 | 0x20) == b'x' || c2.is_ascii_digit();
        }
        // C compares a signed char: bytes >= 0x80 are "<= '9'" too.
        if c <= b'9' || c >= 0x80 {
            return false;
        }
        let word = [self.at(p), self.at(p + 1), self.at(p + 2)].map(|b| b.to_ascii_lowercase());
        &word == b"inf" || &word == b"nan"
    }

    fn number_token(&mut self) -> Token {
        // strtod only ever reads these bytes, so it stops at the first other
        // one as it would at the end of the string.
        let span = self.data[self.pos.min(self.data.len())..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || b".+-()_".contains(&c)))
            .map_or(self.data.len(), |n| self.pos + n);
        let (value, consumed, _) = c_strtod(&self.data[self.pos.min(span)..span]);
        if consumed == 0 {
            return self.error_token("invalid number");
        }
        let mut t = self.token(Kind::Number, self.pos);
        t.number = value;
        self.pos += consumed;
        t
    }

    /// `json_next_token`.
    fn next(&mut self) -> Token {
        while matches!(self.at(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let index = self.pos;
        let single = match self.at(index) {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b',' => Some(Kind::Comma),
            b':' => Some(Kind::Colon),
            0 => return self.token(Kind::End, index),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return self.token(kind, index);
        }
        let ch = self.at(index);
        let mut t = match ch {
            b'"' => self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.invalid_numbers && self.is_invalid_number() {
                    return self.error_token("invalid number");
                }
                self.number_token()
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                let rest = &self.data[index.min(self.data.len())..];
                if rest.starts_with(b"true") {
                    self.pos += 4;
                    let mut t = self.token(Kind::Boolean, index);
                    t.boolean = true;
                    t
                } else if rest.starts_with(b"false") {
                    self.pos += 5;
                    self.token(Kind::Boolean, index)
                } else if rest.starts_with(b"null") {
                    self.pos += 4;
                    self.token(Kind::Null, index)
                } else if self.invalid_numbers && self.is_invalid_number() {
                    self.number_token()
                } else {
                    return self.error_token("invalid token");
                }
            }
            _ => return self.error_token("invalid token"),
        };
        if t.kind != Kind::Error {
            t.index = index;
        }
        t
    }
}

/// A container being decoded (the table itself is in the decoder's `path`
/// Lua table at its depth, its pending key in `keys`).
enum Building {
    Array(i64),
    Object,
}

/// `Expected <what> but found <token> at character <n>`.
fn parse_error(call: &Call<'_>, expected: &str, t: &Token) -> mlua::Error {
    let found = if t.kind == Kind::Error {
        t.error
    } else {
        t.kind.name()
    };
    call.error(format!(
        "Expected {expected} but found {found} at character {}",
        t.index + 1
    ))
}

/// `cjson.decode(text)`.
fn decode(call: &Call<'_>, cfg: Config) -> mlua::Result<Value> {
    if call.top() != 1 {
        return Err(call.arg_error(1, "expected 1 argument"));
    }
    let text = call.check_string(1)?;
    let data = text.as_bytes();
    if data.len() >= 2 && (data[0] == 0 || data[1] == 0) {
        return Err(call.error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let lua = call.lua();
    let mut p = Parser {
        data: &data,
        pos: 0,
        invalid_numbers: cfg.decode_invalid_numbers != 0,
    };
    let mut stack: Vec<Building> = Vec::new();
    let path = lua.create_table()?;
    let keys = lua.create_table()?;
    // Lua stack slots the C parser holds: the argument, then a table per
    // array level and a table and a key per object level.
    let mut used: usize = 1;
    let max_depth = cfg.decode_max_depth.max(0) as usize;
    let mut tok = p.next();
    loop {
        // `json_process_value`: a scalar, or a container to open.
        let mut value = match tok.kind {
            Kind::Str => Value::String(lua.create_string(&tok.string)?),
            Kind::Number => Value::Number(tok.number),
            Kind::Boolean => Value::Boolean(tok.boolean),
            Kind::Null => Value::NULL,
            Kind::ObjBegin | Kind::ArrBegin => {
                let object = tok.kind == Kind::ObjBegin;
                let depth = stack.len() + 1;
                let slots = if object { 3 } else { 2 };
                if depth > max_depth || used + slots > MAX_C_STACK {
                    return Err(call.error(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        p.pos
                    )));
                }
                let table = lua.create_table()?;
                tok = p.next();
                let end = if object { Kind::ObjEnd } else { Kind::ArrEnd };
                if tok.kind == end {
                    Value::Table(table)
                } else if object {
                    if tok.kind != Kind::Str {
                        return Err(parse_error(call, "object key string", &tok));
                    }
                    keys.raw_set(depth, lua.create_string(&tok.string)?)?;
                    tok = p.next();
                    if tok.kind != Kind::Colon {
                        return Err(parse_error(call, "colon", &tok));
                    }
                    path.raw_set(depth, table)?;
                    stack.push(Building::Object);
                    used += 2;
                    tok = p.next();
                    continue;
                } else {
                    path.raw_set(depth, table)?;
                    stack.push(Building::Array(1));
                    used += 1;
                    continue;
                }
            }
            _ => return Err(parse_error(call, "value", &tok)),
        };
        // Hand the value to its container, closing those that end.
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else {
                tok = p.next();
                if tok.kind != Kind::End {
                    return Err(parse_error(call, "the end", &tok));
                }
                return Ok(value);
            };
            let table: Table = path.raw_get(depth)?;
            match top {
                Building::Array(i) => {
                    table.raw_set(*i, value)?;
                    *i += 1;
                    tok = p.next();
                    if tok.kind == Kind::ArrEnd {
                        value = Value::Table(table);
                        stack.pop();
                        path.raw_set(depth, Value::Nil)?;
                        used -= 1;
                        continue;
                    }
                    if tok.kind != Kind::Comma {
                        return Err(parse_error(call, "comma or array end", &tok));
                    }
                    tok = p.next();
                    break;
                }
                Building::Object => {
                    let key: Value = keys.raw_get(depth)?;
                    table.raw_set(key, value)?;
                    tok = p.next();
                    if tok.kind == Kind::ObjEnd {
                        value = Value::Table(table);
                        stack.pop();
                        path.raw_set(depth, Value::Nil)?;
                        used -= 2;
                        continue;
                    }
                    if tok.kind != Kind::Comma {
                        return Err(parse_error(call, "comma or object end", &tok));
                    }
                    tok = p.next();
                    if tok.kind != Kind::Str {
                        return Err(parse_error(call, "object key string", &tok));
                    }
                    keys.raw_set(depth, lua.create_string(&tok.string)?)?;
                    tok = p.next();
                    if tok.kind != Kind::Colon {
                        return Err(parse_error(call, "colon", &tok));
                    }
                    tok = p.next();
                    break;
                }
            }
        }
    }
}

/// A `cjson` table with a configuration of its own (`cjson.new()` makes
/// another).
pub fn open(lua: &Lua, next: Function) -> mlua::Result<Table> {
    let cfg: Shared = Arc::new(Mutex::new(Config::default()));
    let t = lua.create_table()?;
    let c = cfg.clone();
    let n = next.clone();
    t.raw_set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            let cfg = *c.lock();
            encode(&Call::new(lua, args), cfg, &n)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            let cfg = *c.lock();
            decode(&Call::new(lua, args), cfg)
        })?,
    )?;
    let c = cfg.clone();
    t.raw_set(
        "encode_sparse_array",
        lua.create_function(move |lua, args: MultiValue| {
            let call = Call::new(lua, args);
            arg_init(&call, 3)?;
            let mut cfg = c.lock();
            let convert = enum_option(&call, 1, &mut cfg.sparse_convert, &ON_OFF)?;
            let ratio = integer_option(&call, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
            let safe = integer_option(&call, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
            Ok(MultiValue::from_iter([convert, ratio, safe]))
        })?,
    )?;
    type Field = fn(&mut Config) -> &mut i32;
    let integers: [(&str, Field, i32, i32); 3] = [
        ("encode_max_depth", |c| &mut c.encode_max_depth, 1, i32::MAX),
        ("decode_max_depth", |c| &mut c.decode_max_depth, 1, i32::MAX),
        (
            "encode_number_precision",
            |c| &mut c.encode_number_precision,
            1,
            14,
        ),
    ];
    for (name, field, min, max) in integers {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let call = Call::new(lua, args);
                arg_init(&call, 1)?;
                let mut cfg = c.lock();
                integer_option(&call, 1, field(&mut cfg), min, max)
            })?,
        )?;
    }
    let enums: [(&str, Field, &'static [&'static str]); 3] = [
        ("encode_keep_buffer", |c| &mut c.encode_keep_buffer, &ON_OFF),
        (
            "encode_invalid_numbers",
            |c| &mut c.encode_invalid_numbers,
            &["off", "on", "null"],
        ),
        (
            "decode_invalid_numbers",
            |c| &mut c.decode_invalid_numbers,
            &ON_OFF,
        ),
    ];
    for (name, field, options) in enums {
        let c = cfg.clone();
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let call = Call::new(lua, args);
                arg_init(&call, 1)?;
                let mut cfg = c.lock();
                enum_option(&call, 1, field(&mut cfg), options)
            })?,
        )?;
    }
    t.raw_set(
        "new",
        lua.create_function(move |lua, _: MultiValue| open(lua, next.clone()))?,
    )?;
    t.raw_set("null", Value::NULL)?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}
