//! Redis' bundled Lua libraries (`cjson`, `cmsgpack`, `bit`, `struct`),
//! ported from the C sources Redis 7.0 ships in `deps/lua/src` so that
//! scripts written for Redis get the same values, bytes and error texts.
//!
//! The C libraries report errors through Lua's auxiliary library
//! (`luaL_argerror`, `luaL_error`, ...), whose texts name the calling
//! function as the call site spells it and start with the position of the
//! Lua code that called them (`user_script:1: `). [`Call`] reproduces those
//! rules for the Rust ports.

pub mod bit;
pub mod cjson;
pub mod cmsgpack;
pub mod structlib;

use std::ffi::c_int;

use mlua::{ffi, Lua, MultiValue, Table, Value};

/// Registers the libraries as globals of `lua` (before the environment is
/// made read-only, which then covers their tables too).
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    let next: mlua::Function = globals.raw_get("next")?;
    globals.raw_set("cjson", cjson::open(lua, next)?)?;
    globals.raw_set("cmsgpack", cmsgpack::open(lua)?)?;
    globals.raw_set("bit", bit::open(lua)?)?;
    globals.raw_set("struct", structlib::open(lua)?)?;
    Ok(())
}

/// The results of a function returning many values, kept in a Lua table
/// (one mlua reference however many there are: mlua has room for about
/// 8000) until [`spreading`]'s C trampoline pushes them.
pub(crate) struct Results {
    table: Table,
    len: usize,
}

impl Results {
    /// No results yet.
    pub fn new(lua: &Lua) -> mlua::Result<Results> {
        Ok(Results {
            table: lua.create_table()?,
            len: 0,
        })
    }

    /// How many results so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends a result.
    pub fn push(&mut self, v: Value) -> mlua::Result<()> {
        self.len += 1;
        self.table.raw_set(self.len, v)
    }

    /// Replaces result `i` (1-based).
    pub fn set(&self, i: usize, v: Value) -> mlua::Result<()> {
        self.table.raw_set(i, v)
    }

    /// The last result (nil when none).
    pub fn last(&self) -> mlua::Result<Value> {
        self.table.raw_get(self.len)
    }

    /// Drops the last result.
    pub fn pop(&mut self) -> mlua::Result<()> {
        self.table.raw_set(self.len, Value::Nil)?;
        self.len = self.len.saturating_sub(1);
        Ok(())
    }

    /// What the core function returns to the trampoline.
    pub fn finish(self) -> (Table, usize) {
        (self.table, self.len)
    }
}

/// The trampoline of [`spreading`]: calls its upvalue with the arguments,
/// which returns a table and a count, and returns the table's first
/// `count` entries.
unsafe extern "C-unwind" fn spread(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, 2);
    let count = c_int::try_from(ffi::lua_tointeger(l, -1)).unwrap_or(0);
    ffi::lua_pop(l, 1);
    ffi::luaL_checkstack_(l, count, c"too many results to unpack".as_ptr());
    for i in 1..=count {
        ffi::lua_rawgeti(l, 1, ffi::lua_Integer::from(i));
    }
    count
}

/// A C function calling `core` (which returns [`Results::finish`]) and
/// returning its results as multiple values; `core` reads its arguments
/// with [`Call::spread`].
pub(crate) fn spreading(lua: &Lua, core: mlua::Function) -> mlua::Result<mlua::Function> {
    // SAFETY: the closure's frame holds `core`, which lua_pushcclosure pops
    // into the new closure's upvalue; nothing here raises. `spread` only
    // uses the Lua API on its own frame and holds no Rust value to drop.
    unsafe {
        lua.exec_raw::<mlua::Function>(core, |l| {
            ffi::lua_pushcclosure(l, spread, 1);
        })
    }
}

/// Lua numbers become integers the way C's `(long long)` cast does on
/// x86-64 (`cvttsd2si`: NaN and out-of-range values give `i64::MIN`).
pub(crate) fn number_to_i64(n: f64) -> i64 {
    if n.is_finite() && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// The number Lua holds where mlua shows `v`: mlua turns every number
/// within 2^-52 of an integer into that integer, so an `Integer(0)` may
/// really be `-0.0` or a tiny number; `exact` reads it again from Lua.
pub(crate) fn number(v: &Value, exact: impl FnOnce() -> Option<f64>) -> Option<f64> {
    match v {
        Value::Integer(0) => exact().or(Some(0.0)),
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Lua's type code of a value as mlua shows it.
fn type_code(v: &Value) -> c_int {
    match v {
        Value::Nil => ffi::LUA_TNIL,
        Value::Boolean(_) => ffi::LUA_TBOOLEAN,
        Value::LightUserData(_) => ffi::LUA_TLIGHTUSERDATA,
        Value::Integer(_) | Value::Number(_) => ffi::LUA_TNUMBER,
        Value::String(_) => ffi::LUA_TSTRING,
        Value::Table(_) => ffi::LUA_TTABLE,
        Value::Function(_) => ffi::LUA_TFUNCTION,
        Value::Thread(_) => ffi::LUA_TTHREAD,
        _ => ffi::LUA_TUSERDATA,
    }
}

/// Argument `n` of the running Rust callback, whose arguments are `args`,
/// read from its Lua frame (None when it is not a number). mlua may have
/// put a value of its own (its preallocated error) below the arguments:
/// the arguments are found where the frame's slot types match theirs.
pub(crate) fn exact_arg(lua: &Lua, n: usize, args: &[Value]) -> Option<f64> {
    let mut out = None;
    let want: Vec<c_int> = args.iter().map(type_code).collect();
    let Ok(n) = c_int::try_from(n) else {
        return None;
    };
    // SAFETY: exec_raw runs the closure in a frame called from the running
    // callback's (level 1), whose slots lua_getlocal reads as temporaries
    // (pushing each, popped at once); nothing here raises.
    let done = unsafe {
        lua.exec_raw::<()>((), |l| {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            if ffi::lua_getstack(l, 1, &mut ar) == 0 {
                return;
            }
            let mut types = Vec::new();
            while !ffi::lua_getlocal(l, &ar, types.len() as c_int + 1).is_null() {
                types.push(ffi::lua_type(l, -1));
                ffi::lua_pop(l, 1);
            }
            let fits = |skip: usize| types.get(skip..skip + want.len()) == Some(&want[..]);
            let skip = match (fits(0), fits(1)) {
                (true, false) => 0,
                (false, true) => 1,
                _ => return,
            };
            if ffi::lua_getlocal(l, &ar, skip as c_int + n).is_null() {
                return;
            }
            if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                out = Some(ffi::lua_tonumber(l, -1));
            }
            ffi::lua_pop(l, 1);
        })
    };
    done.ok().and(out)
}

/// `t[k]` (raw) as Lua holds it, when it is a number.
pub(crate) fn exact_field(lua: &Lua, t: &Table, k: &Value) -> Option<f64> {
    let mut out = None;
    // SAFETY: the closure's frame holds `t` and `k` (pushed by exec_raw);
    // lua_rawget never raises.
    let done = unsafe {
        lua.exec_raw::<()>((t, k), |l| {
            ffi::lua_rawget(l, -2);
            if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                out = Some(ffi::lua_tonumber(l, -1));
            }
            ffi::lua_pop(l, 1);
        })
    };
    done.ok().and(out)
}

/// Where a value came from, to read its number again exactly.
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// Argument n of the running callback, whose arguments these are.
    Arg(usize, &'a [Value]),
    /// A table's field.
    Field(&'a Table, &'a Value),
}

impl Origin<'_> {
    /// The number of value `v` from here, exactly (None: not a number).
    pub fn number(self, lua: &Lua, v: &Value) -> Option<f64> {
        number(v, || match self {
            Origin::Arg(n, args) => exact_arg(lua, n, args),
            Origin::Field(t, k) => exact_field(lua, t, k),
        })
    }
}

/// A library function's arguments, indexed from 1 like the C API, with the
/// auxiliary library's checks and error texts.
pub(crate) struct Call<'l> {
    lua: &'l Lua,
    args: Vec<Value>,
    /// How many arguments Lua passed (`push_nil` adds past them).
    passed: usize,
    /// Stack levels between the function the script called and this one
    /// (1 under [`spreading`]'s trampoline).
    level: usize,
}

/// Lua's name for the type of a value (`luaL_typename`).
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

impl<'l> Call<'l> {
    /// The arguments of the running library function.
    pub fn new(lua: &'l Lua, args: MultiValue) -> Call<'l> {
        let args: Vec<Value> = args.into_iter().collect();
        Call {
            lua,
            passed: args.len(),
            args,
            level: 0,
        }
    }

    /// The arguments of a core function called by [`spreading`]'s
    /// trampoline (errors name and place the trampoline's call).
    pub fn spread(lua: &'l Lua, args: MultiValue) -> Call<'l> {
        Call {
            level: 1,
            ..Call::new(lua, args)
        }
    }

    /// The VM.
    pub fn lua(&self) -> &'l Lua {
        self.lua
    }

    /// Pushes a nil after the arguments (as `lua_pushnil` does: checks of
    /// the next argument then see `nil`, not "no value").
    pub fn push_nil(&mut self) {
        self.args.push(Value::Nil);
    }

    /// All the arguments.
    pub fn values(&self) -> &[Value] {
        &self.args
    }

    /// How many arguments were passed (`lua_gettop`).
    pub fn top(&self) -> usize {
        self.args.len()
    }

    /// Argument `n` (nil when absent).
    pub fn arg(&self, n: usize) -> Value {
        self.args
            .get(n.wrapping_sub(1))
            .cloned()
            .unwrap_or(Value::Nil)
    }

    /// True when argument `n` is absent or nil (`lua_isnoneornil`).
    pub fn is_none_or_nil(&self, n: usize) -> bool {
        matches!(self.arg(n), Value::Nil)
    }

    /// `luaL_error`: `msg` after the position of the calling Lua code.
    pub fn error(&self, msg: impl std::fmt::Display) -> mlua::Error {
        mlua::Error::RuntimeError(format!("{}{msg}", self.position()))
    }

    /// `luaL_where(L, 1)`: `source:line: ` of the caller, when it is Lua code.
    fn position(&self) -> String {
        let Some(frame) = self.lua.inspect_stack(1 + self.level) else {
            return String::new();
        };
        let line = frame.curr_line();
        if line <= 0 {
            return String::new();
        }
        let src = frame.source().short_src.map(|s| s.into_owned());
        format!("{}:{line}: ", src.unwrap_or_default())
    }

    /// `luaL_argerror`: names the function as its call site does.
    pub fn arg_error(&self, narg: usize, extramsg: &str) -> mlua::Error {
        let (name, method) = match self.lua.inspect_stack(self.level) {
            Some(frame) => {
                let names = frame.names();
                (
                    names.name.map(|n| n.into_owned()),
                    names.name_what == Some("method"),
                )
            }
            None => return self.error(format!("bad argument #{narg} ({extramsg})")),
        };
        let name = name.unwrap_or_else(|| "?".into());
        if method {
            if narg == 1 {
                return self.error(format!("calling '{name}' on bad self ({extramsg})"));
            }
            return self.error(format!(
                "bad argument #{} to '{name}' ({extramsg})",
                narg - 1
            ));
        }
        self.error(format!("bad argument #{narg} to '{name}' ({extramsg})"))
    }

    /// `luaL_typerror`: `<tname> expected, got <type of the argument>`.
    pub fn type_error(&self, narg: usize, tname: &str) -> mlua::Error {
        let got = match self.args.get(narg.wrapping_sub(1)) {
            Some(v) => type_name(v),
            None => "no value",
        };
        self.arg_error(narg, &format!("{tname} expected, got {got}"))
    }

    /// `lua_tonumber`: numbers, and strings Lua converts (None otherwise).
    pub fn to_number(&self, n: usize) -> Option<f64> {
        match self.arg(n) {
            v @ Value::String(_) => self.lua.coerce_number(v).ok().flatten(),
            v => number(&v, || self.exact(n)),
        }
    }

    /// Argument `n` exactly, when it is a number (see [`number`]).
    pub fn exact(&self, n: usize) -> Option<f64> {
        if n > self.passed {
            return None;
        }
        exact_arg(self.lua, n, &self.args[..self.passed])
    }

    /// Where argument `n` came from.
    pub fn origin(&self, n: usize) -> Origin<'_> {
        Origin::Arg(n, &self.args[..self.passed])
    }

    /// `luaL_checknumber`.
    pub fn check_number(&self, n: usize) -> mlua::Result<f64> {
        self.to_number(n)
            .ok_or_else(|| self.type_error(n, "number"))
    }

    /// `luaL_checkinteger` (the number cast as C casts it).
    pub fn check_integer(&self, n: usize) -> mlua::Result<i64> {
        self.check_number(n).map(number_to_i64)
    }

    /// `luaL_optinteger`.
    pub fn opt_integer(&self, n: usize, default: i64) -> mlua::Result<i64> {
        if self.is_none_or_nil(n) {
            return Ok(default);
        }
        self.check_integer(n)
    }

    /// `luaL_checklstring`: strings, and numbers as Lua formats them.
    pub fn check_string(&self, n: usize) -> mlua::Result<mlua::String> {
        match self.arg(n) {
            Value::String(s) => Ok(s),
            v @ (Value::Integer(_) | Value::Number(_)) => self
                .lua
                .coerce_string(v)
                .ok()
                .flatten()
                .ok_or_else(|| self.type_error(n, "string")),
            _ => Err(self.type_error(n, "string")),
        }
    }
}
