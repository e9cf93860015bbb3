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

use mlua::{Lua, MultiValue, Value};

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

/// Lua numbers become integers the way C's `(long long)` cast does on
/// x86-64 (`cvttsd2si`: NaN and out-of-range values give `i64::MIN`).
pub(crate) fn number_to_i64(n: f64) -> i64 {
    if n.is_finite() && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// A library function's arguments, indexed from 1 like the C API, with the
/// auxiliary library's checks and error texts.
pub(crate) struct Call<'l> {
    lua: &'l Lua,
    args: Vec<Value>,
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
        Call {
            lua,
            args: args.into_iter().collect(),
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
        let Some(frame) = self.lua.inspect_stack(1) else {
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
        let (name, method) = match self.lua.inspect_stack(0) {
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
            Value::Integer(i) => Some(i as f64),
            Value::Number(x) => Some(x),
            v @ Value::String(_) => self.lua.coerce_number(v).ok().flatten(),
            _ => None,
        }
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
