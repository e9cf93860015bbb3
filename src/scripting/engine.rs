//! The Lua VM: environment setup (the `redis` library, read-only globals),
//! script compilation and caching, execution with Redis' error reporting,
//! and the Lua <-> RESP conversion rules of Redis 7.0.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{
    Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Thread, Value, VmState,
};

use crate::cmd::command::flags;
use crate::cmd::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::node::gate::ScriptRun;
use crate::resp::reply::format_double;
use crate::resp::{decode_reply, Reply, ReplyValue};

use super::lualib::{self, number_to_i64};
use super::readonly;

/// Script/function flag: never writes (FCALL_RO / EVAL_RO may run it).
pub const NO_WRITES: u8 = 1;
/// Script/function flag: runs even over `maxmemory`.
pub const ALLOW_OOM: u8 = 1 << 1;
/// Script/function flag: refused in cluster mode.
pub const NO_CLUSTER: u8 = 1 << 3;
/// Script/function flag names in Redis' order (shebang `flags=`,
/// `register_function`; FUNCTION LIST shows them in this order).
pub const SCRIPT_FLAG_NAMES: [(u8, &str); 5] = [
    (NO_WRITES, "no-writes"),
    (ALLOW_OOM, "allow-oom"),
    (1 << 2, "allow-stale"),
    (NO_CLUSTER, "no-cluster"),
    (1 << 4, "allow-cross-slot-keys"),
];

/// Instructions between two checks of the SCRIPT KILL flag (Redis uses the same).
const HOOK_EVERY: u32 = 100_000;

/// Nesting limit when converting a script's return value to a reply.
const MAX_DEPTH: usize = 64;

/// Error text of a script stopped by SCRIPT KILL.
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Lua side of the `redis` library (`call`/`pcall` are Rust functions bound
/// per run).
const SETUP: &str = r#"
local hidden = ...
redis = {}
function redis.sha1hex(...)
  if select('#', ...) ~= 1 then error({err='ERR wrong number of arguments'}, 0) end
  return hidden.sha1hex(...)
end
function redis.log(level, ...)
  if select('#', ...) < 1 then error({err='ERR redis.log() requires two arguments or more.'}, 0) end
  if type(level) ~= 'number' then error({err='ERR First argument must be a number (log level).'}, 0) end
  if level < 0 or level > 3 then error({err='ERR Invalid debug level.'}, 0) end
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
  hidden.log(level, table.concat(parts, ' '))
end
function redis.error_reply(msg)
  if type(msg) ~= 'string' then return hidden.error_table('wrong number or type of arguments') end
  if string.sub(msg, 1, 1) ~= '-' then msg = '-' .. msg end
  return hidden.error_table(msg)
end
function redis.status_reply(msg)
  if type(msg) ~= 'string' then return hidden.error_table('wrong number or type of arguments') end
  return {ok = msg}
end
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
"#;

/// Makes the globals, every library table reachable from them and the
/// string metatable read-only, as Redis 7.0's `lua_enablereadonlytable`
/// does, and drops `getfenv`/`setfenv`/`newproxy`/`dofile`/`loadfile`.
///
/// Lua 5.1 has no read-only tables, so each protected table is emptied into
/// a hidden backing table it reads through (`__index`), and refuses writes
/// (`__newindex`); the raw functions that would bypass that (`rawset`,
/// `setmetatable`, `table.insert`) refuse too, and the raw readers
/// (`rawget`, `next`, `pairs`, `getmetatable`) read the backing table (or a
/// read-only view of a metatable); these are C functions (`readonly`). Also removes `print`,
/// absent from Redis 7.0. Returns the backing tables of `_G` and `redis`,
/// where the engine writes `KEYS`/`ARGV` and `redis.call`.
const PROTECT: &str = r#"
local follow, plain, backing, shown, views, raw = ...
getfenv, setfenv, newproxy, dofile, loadfile, print = nil, nil, nil, nil, nil, nil
local READONLY = 'Attempt to modify a readonly table'
local rawget, rawset, next, getmetatable, setmetatable = rawget, rawset, next, getmetatable, setmetatable
local error, tostring, tonumber, type, select, pcall, unpack =
  error, tostring, tonumber, type, select, pcall, unpack
-- backing: protected table -> its contents (shared with `raw`'s functions)
-- shown: protected table -> the metatable getmetatable shows
-- views: real metatable -> its read-only view
local function refuse() error(READONLY, 2) end
local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
local function protect(t, show)
  if backing[t] then return backing[t] end
  local b = {}
  for k, v in next, t do b[k] = v end
  for k in next, b do rawset(t, k, nil) end
  backing[t], shown[t] = b, show
  for _, v in next, b do
    if type(v) == 'table' then protect(v) end
  end
  setmetatable(t, { __index = b, __newindex = refuse })
  return b
end
-- The wrappers check their arguments as the C functions do, so errors read
-- the same (with the script's position, not this chunk's).
local function argerror(level, i, name, msg)
  error('bad argument #' .. i .. " to '" .. name .. "' (" .. msg .. ')', level + 1)
end
_G.next, _G.rawset, _G.rawget, _G.pairs, table.insert = raw.next, raw.rawset, raw.rawget, raw.pairs, raw.insert
_G.getmetatable, _G.setmetatable = raw.getmetatable, raw.setmetatable
-- Errors raised from Rust reach the script as what Redis raises: the
-- strings of the C libraries, `{err=...}` tables for `redis.call` (`plain`).
-- Redis' own `pcall` (`luaRedisPcall`) then turns an error table into its
-- `err` string, and without arguments calls its boolean placeholder.
local xpcall = xpcall
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = plain((...))
  if type(e) == 'table' then
    local text = e.err
    if type(text) == 'string' or type(text) == 'number' then e = text end
  end
  return ok, e
end
function _G.pcall(...)
  if select('#', ...) == 0 then return false, 'attempt to call a boolean value' end
  return caught(pcall(...))
end
function _G.xpcall(...)
  local f, handler = ...
  if select('#', ...) < 2 then argerror(2, 2, 'xpcall', 'value expected') end
  return xpcall(f, function(e) return handler(plain(e)) end)
end
-- mlua runs the kill hook in one thread only: resuming a coroutine moves it
-- there (`follow`) and back to the resumer afterwards.
local create, resume, running = coroutine.create, coroutine.resume, coroutine.running
local function pack(...) return { n = select('#', ...), ... } end
local function resumed(ok, ...)
  follow(running())
  if ok then return ok, ... end
  return ok, plain((...))
end
local function wrapped_resume(...)
  local co = ...
  if type(co) ~= 'thread' then argerror(2, 1, 'resume', 'coroutine expected') end
  follow(co)
  return resumed(resume(...))
end
coroutine.resume = wrapped_resume
function coroutine.wrap(f)
  local made, co = pcall(create, f)
  if not made then argerror(2, 1, 'wrap', 'Lua function expected') end
  return function(...)
    local r = pack(wrapped_resume(co, ...))
    if r[1] then return unpack(r, 2, r.n) end
    local e = r[2]
    if type(e) == 'string' or type(e) == 'number' then error(e, 2) end
    error(e, 0)
  end
end
local string_mt = getmetatable('')
local string_view = {}
backing[string_view], views[string_mt] = string_mt, string_view
setmetatable(string_view, { __index = string_mt, __newindex = refuse })
local globals_mt = { __index = missing }
protect(globals_mt)
local globals = protect(_G, globals_mt)
setmetatable(globals, { __index = missing })
return globals, backing[redis]
"#;

/// The node's Lua VM and script cache.
pub struct Engine {
    lua: Lua,
    /// Message handler turning any error into `{err=, source=, line=}`.
    handler: Function,
    /// The instruction hook that stops killed scripts and slow loads.
    stop_hook: StopHook,
    /// The VM's main thread, where scripts start (and the hook with them).
    main: Thread,
    /// What `_G` reads through (`PROTECT`): where `KEYS`/`ARGV` go.
    globals: Table,
    /// What the read-only `redis` table reads through: where `redis.call` goes.
    redis: Table,
    /// Lua's own `xpcall` (scripts see a wrapper that converts errors).
    xpcall: Function,
    /// `binder(f, keys, args)`: a no-argument closure calling `f(keys, args)`
    /// (Lua 5.1's `xpcall` cannot pass arguments; functions take two).
    binder: Function,
    /// Compiled scripts by lowercase sha1, with their shebang flags (None:
    /// no shebang, Redis' compatibility mode).
    cache: HashMap<String, (Function, Option<u8>)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("scripts", &self.cache.len())
            .finish()
    }
}

/// Redis' `luaPushErrorBuff`: `-CODE msg` keeps its code, anything else gets `ERR`.
fn error_text(msg: &str) -> String {
    let msg = match msg.strip_prefix('-') {
        Some(rest) => match rest.split_once(' ') {
            Some((code, m)) => format!("{code} {}", m.trim_matches(['\r', '\n'])),
            None => format!("ERR {}", rest.trim_matches(['\r', '\n'])),
        },
        None => format!("ERR {}", msg.trim_matches(['\r', '\n'])),
    };
    msg
}

/// A `{err = text}` table.
fn err_table(lua: &Lua, text: &str) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(t)
}

/// An error reply `redis.call` raises; the message handler turns it back
/// into the `{err=...}` table Redis raises.
#[derive(Debug)]
struct RaisedReply(String);

impl std::fmt::Display for RaisedReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedReply {}

/// A Lua error that reaches the script's caller as exactly `text` (an
/// `ERR ...` reply), without Lua's position prefix.
pub(crate) fn raise(text: String) -> mlua::Error {
    mlua::Error::external(RaisedReply(text))
}

/// Innermost message of an error raised from Rust.
fn root_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_message(cause),
        mlua::Error::RuntimeError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The `{err=...}` text of an error raised by `redis.call`, if it is one.
fn raised_reply(e: &mlua::Error) -> Option<String> {
    match e {
        mlua::Error::CallbackError { cause, .. } => raised_reply(cause),
        mlua::Error::ExternalError(inner) => {
            inner.downcast_ref::<RaisedReply>().map(|r| r.0.clone())
        }
        _ => None,
    }
}

/// Source and current line of the innermost user-script frame.
fn user_frame(lua: &Lua) -> Option<(String, i32)> {
    for level in 0..32 {
        let frame = lua.inspect_stack(level)?;
        let src = frame.source();
        if src.what == "C" {
            continue;
        }
        let Some(source) = src.source.as_deref() else {
            continue;
        };
        if source.starts_with('=') {
            continue;
        }
        let source = source.to_string();
        return Some((source, frame.curr_line()));
    }
    None
}

/// Redis' `REDIS_VERSION_NUM`: `0x00MMmmpp` of "MM.mm.pp".
fn version_num(version: &str) -> i64 {
    version
        .split('.')
        .take(3)
        .fold(0, |acc, p| (acc << 8) | p.parse::<i64>().unwrap_or(0))
}

impl Engine {
    /// A fresh VM with the `redis` library, checking `run.kill` from a hook.
    pub fn new(run: Arc<ScriptRun>) -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let hidden = lua.create_table()?;
        hidden.raw_set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(sha1_hex(&s.as_bytes())))?,
        )?;
        hidden.raw_set(
            "error_table",
            lua.create_function(|lua, s: mlua::String| {
                err_table(lua, &error_text(&s.to_string_lossy()))
            })?,
        )?;
        hidden.raw_set(
            "log",
            lua.create_function(|_, (level, msg): (i64, mlua::String)| {
                let msg = msg.to_string_lossy();
                match level {
                    0 => tracing::debug!(target: "lua", "{msg}"),
                    1 | 2 => tracing::info!(target: "lua", "{msg}"),
                    _ => tracing::warn!(target: "lua", "{msg}"),
                }
                Ok(())
            })?,
        )?;
        let kill_seen = run.clone();
        let handler = lua.create_function(move |lua, err: Value| {
            let t = match err {
                Value::Table(t) => t,
                Value::Error(e) => match raised_reply(&e) {
                    Some(text) => err_table(lua, &text)?,
                    None if kill_seen.kill.load(Ordering::Acquire) => err_table(lua, KILLED)?,
                    None => err_table(lua, &format!("ERR {}", root_message(&e)))?,
                },
                other => {
                    let s = lua.globals().get::<Function>("tostring")?;
                    let s: String = s.call(other)?;
                    err_table(lua, &format!("ERR {s}"))?
                }
            };
            if let Some((source, line)) = user_frame(lua) {
                t.raw_set("source", source)?;
                t.raw_set("line", line)?;
            }
            Ok(t)
        })?;
        lua.load(SETUP)
            .set_name("=redis")
            .call::<()>(hidden.clone())?;
        let redis: Table = lua.globals().raw_get("redis")?;
        lualib::install(&lua)?;
        let version = crate::cmd::connection::REDIS_VERSION;
        redis.raw_set("REDIS_VERSION", version)?;
        redis.raw_set("REDIS_VERSION_NUM", version_num(version))?;
        let binder = lua
            .load("local f, keys, args = ... return function() return f(keys, args) end")
            .set_name("=binder")
            .into_function()?;
        let stop_hook = StopHook {
            run,
            hot: Arc::new(AtomicBool::new(false)),
        };
        let main = lua.current_thread();
        stop_hook.reset(&main);
        let hook = stop_hook.clone();
        let follow = lua.create_function(move |lua, co: Option<Thread>| {
            hook.follow(lua, &co.unwrap_or_else(|| lua.current_thread()))
        })?;
        let plain = lua.create_function(|lua, e: Value| match e {
            Value::Error(err) => match raised_reply(&err) {
                Some(text) => Ok(Value::Table(err_table(lua, &text)?)),
                None => Ok(Value::String(lua.create_string(root_message(&err))?)),
            },
            other => Ok(other),
        })?;
        let xpcall: Function = lua.globals().raw_get("xpcall")?;
        // Redis names its message handler as a global; scripts may call it.
        lua.globals()
            .raw_set("__redis__err__handler", handler.clone())?;
        let (backing, shown, views) = (
            lua.create_table()?,
            lua.create_table()?,
            lua.create_table()?,
        );
        let raw = readonly::functions(&lua, backing.clone(), shown.clone(), views.clone())?;
        let (globals, redis): (Table, Table) = lua
            .load(PROTECT)
            .set_name("=protect")
            .call((follow, plain, backing, shown, views, raw))?;
        Ok(Engine {
            lua,
            stop_hook,
            main,
            globals,
            redis,
            handler,
            xpcall,
            binder,
            cache: HashMap::new(),
        })
    }

    /// Number of scripts in the cache (MEMORY DOCTOR's many-scripts check).
    pub fn cached_scripts(&self) -> usize {
        self.cache.len()
    }

    /// The VM (the function registry builds library environments in it).
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// Calls `func` with no arguments under the error handler; on failure
    /// returns the `err` text of the raised error (`ERR user_function:2: ...`).
    pub fn protected_call(&self, func: &Function) -> Result<(), String> {
        self.stop_hook.reset(&self.main);
        let out = self
            .xpcall
            .call::<MultiValue>((func.clone(), self.handler.clone()));
        self.stop_hook.reset(&self.main);
        let out = out.map_err(|e| format!("ERR {}", root_message(&e)))?;
        let mut out = out.into_iter();
        if matches!(out.next(), Some(Value::Boolean(true))) {
            return Ok(());
        }
        Err(match out.next() {
            Some(Value::Table(t)) => match t.raw_get::<Value>("err") {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => "ERR unknown error".into(),
            },
            _ => "ERR unknown error".into(),
        })
    }

    /// True when a script with this (lowercase) sha1 is cached.
    pub fn exists(&self, sha: &str) -> bool {
        self.cache.contains_key(sha)
    }

    /// The shebang flags of a cached script: None when not cached,
    /// Some(None) for a script without shebang.
    pub fn script_flags(&self, sha: &str) -> Option<Option<u8>> {
        self.cache.get(sha).map(|(_, flags)| *flags)
    }

    /// Compiles and caches `body` (if new) and returns its sha1.
    pub fn load(&mut self, body: &[u8]) -> Result<String, CmdError> {
        let sha = sha1_hex(body);
        if self.cache.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) = eval_shebang(body).map_err(CmdError::err)?;
        let f = self
            .lua
            .load(&body[skip..])
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => root_message(&other),
                };
                CmdError::err(format!("Error compiling script (new function): {msg}"))
            })?;
        self.cache.insert(sha.clone(), (f, flags));
        Ok(sha)
    }

    /// Runs a cached script and writes its reply to `ctx.out`.
    pub fn run_script(
        &mut self,
        ctx: &mut Ctx<'_>,
        run: &ScriptRun,
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        readonly: bool,
    ) -> CmdResult {
        let Some(func) = self.cache.get(sha).map(|(f, _)| f.clone()) else {
            return Err(CmdError::Other(
                "NOSCRIPT No matching script. Please use EVAL.".into(),
            ));
        };
        let lua_err = |e: mlua::Error| CmdError::err(root_message(&e));
        let globals = &self.globals;
        globals
            .raw_set("KEYS", self.strings(keys).map_err(lua_err)?)
            .map_err(lua_err)?;
        globals
            .raw_set("ARGV", self.strings(argv).map_err(lua_err)?)
            .map_err(lua_err)?;
        self.run_bridged(ctx, run, sha, func, readonly)
    }

    /// Runs a library function (FCALL): `func(keys, args)` with the same
    /// bridge, kill and error rules as scripts; errors name the function.
    #[allow(clippy::too_many_arguments)]
    pub fn run_function(
        &mut self,
        ctx: &mut Ctx<'_>,
        run: &ScriptRun,
        name: &str,
        func: &Function,
        keys: &[Bytes],
        argv: &[Bytes],
        readonly: bool,
    ) -> CmdResult {
        let lua_err = |e: mlua::Error| CmdError::err(root_message(&e));
        let bound: Function = self
            .binder
            .call((
                func.clone(),
                self.strings(keys).map_err(lua_err)?,
                self.strings(argv).map_err(lua_err)?,
            ))
            .map_err(lua_err)?;
        self.run_bridged(ctx, run, name, bound, readonly)
    }

    /// Runs `func` (no arguments) with `redis.call`/`pcall` bound to `ctx`,
    /// tracking it in `run`; `label` names it in error replies.
    fn run_bridged(
        &mut self,
        ctx: &mut Ctx<'_>,
        run: &ScriptRun,
        label: &str,
        func: Function,
        readonly: bool,
    ) -> CmdResult {
        let lua_err = |e: mlua::Error| CmdError::err(root_message(&e));
        let saved_db = ctx.client.db;
        run.kill.store(false, Ordering::Release);
        run.wrote.store(false, Ordering::Release);
        self.stop_hook.reset(&self.main);
        run.started_ms
            .store(crate::store::now_ms().max(1), Ordering::Release);
        let outcome = {
            let bridge = Bridge {
                ctx: RefCell::new(&mut *ctx),
                scratch: RefCell::new(Reply::new()),
                run,
                readonly,
            };
            let redis = &self.redis;
            let handler = &self.handler;
            let xpcall = &self.xpcall;
            self.lua.scope(|scope| {
                let call = scope.create_function(|lua, args: MultiValue| {
                    let (reply, failed) = bridge.call(lua, args)?;
                    match (failed, reply) {
                        (true, Value::Table(t)) => {
                            let text: String = t.raw_get("err")?;
                            Err(raise(text))
                        }
                        (_, reply) => Ok(reply),
                    }
                })?;
                let pcall =
                    scope.create_function(|lua, args: MultiValue| Ok(bridge.call(lua, args)?.0))?;
                redis.raw_set("call", call)?;
                redis.raw_set("pcall", pcall)?;
                let out: MultiValue = xpcall.call((func, handler.clone()))?;
                redis.raw_set("call", Value::Nil)?;
                redis.raw_set("pcall", Value::Nil)?;
                Ok(out)
            })
        };
        self.stop_hook.reset(&self.main);
        run.started_ms.store(0, Ordering::Release);
        run.kill.store(false, Ordering::Release);
        ctx.client.db = saved_db;
        let mut out = outcome.map_err(lua_err)?.into_iter();
        let ok = matches!(out.next(), Some(Value::Boolean(true)));
        let value = out.next().unwrap_or(Value::Nil);
        if ok {
            write_value(ctx.out, &value, 0);
            return Ok(());
        }
        Err(CmdError::Other(script_error(label, &value)))
    }

    fn strings(&self, items: &[Bytes]) -> mlua::Result<Table> {
        let t = self.lua.create_table_with_capacity(items.len(), 0)?;
        for (i, it) in items.iter().enumerate() {
            t.raw_set(i + 1, self.lua.create_string(it)?)?;
        }
        Ok(t)
    }
}

/// The VM's instruction-count hook: aborts the script once SCRIPT KILL (or
/// SHUTDOWN) set `run.kill`, or a FUNCTION LOAD passed its deadline.
///
/// A `pcall` in the script catches the error, so once it fires the hook
/// turns "hot": it then runs before every instruction and raises again
/// each time, so the instruction right after any `pcall`/`xpcall`/
/// `coroutine.resume` that caught it raises once more, one protected level
/// at a time, until the error leaves the script. [`StopHook::reset`] puts the
/// normal rate back once the script is over.
#[derive(Clone)]
struct StopHook {
    run: Arc<ScriptRun>,
    /// True while the hook runs before every instruction.
    hot: Arc<AtomicBool>,
}

impl StopHook {
    /// Sets this hook on `thread` (mlua hooks one thread at a time), run
    /// every `every` instructions.
    fn install(&self, thread: &Thread, every: u32) {
        let hook = self.clone();
        thread.set_hook(
            HookTriggers::new().every_nth_instruction(every),
            move |lua, _| hook.check(lua),
        );
    }

    /// Moves the hook to `thread` at the current rate (`coroutine.resume`
    /// calls it before resuming a coroutine and after it returns). Moving
    /// restarts the instruction count, so it checks first: a loop resuming
    /// a coroutine is stopped here.
    fn follow(&self, lua: &Lua, thread: &Thread) -> mlua::Result<()> {
        self.check(lua)?;
        let every = if self.hot.load(Ordering::Acquire) {
            1
        } else {
            HOOK_EVERY
        };
        self.install(thread, every);
        Ok(())
    }

    /// The hook itself.
    fn check(&self, lua: &Lua) -> mlua::Result<VmState> {
        let why = if self.run.kill.load(Ordering::Acquire) {
            "killed"
        } else {
            let deadline = self.run.load_deadline_ms.load(Ordering::Acquire);
            if deadline == 0 || crate::store::now_ms() <= deadline {
                return Ok(VmState::Continue);
            }
            "FUNCTION LOAD timeout"
        };
        // (Re)installed each time: the raising thread may be one the hook
        // had left for a coroutine.
        self.hot.store(true, Ordering::Release);
        self.install(&lua.current_thread(), 1);
        Err(mlua::Error::runtime(why))
    }

    /// Back on the main thread at the normal rate: before and after every
    /// script, whatever thread the hook was left on.
    fn reset(&self, main: &Thread) {
        self.hot.store(false, Ordering::Release);
        self.install(main, HOOK_EVERY);
    }
}

/// The final error reply of a failed script: `<err> script: <sha or function>, on <source>:<line>.`
fn script_error(label: &str, value: &Value) -> String {
    let Value::Table(t) = value else {
        return "ERR Error running script: unknown error".into();
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR unknown error".into(),
    };
    let source = t.raw_get::<Option<String>>("source").ok().flatten();
    let line = t.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(s), Some(l)) => format!("{err} script: {label}, on {s}:{l}."),
        _ => err,
    }
}

/// Parses an EVAL script's optional `#!lua [flags=a,b]` first line (Redis'
/// `evalExtractShebangFlags`): the flags (None without shebang) and where
/// the code starts (at the shebang's newline, keeping line numbers).
pub fn eval_shebang(body: &[u8]) -> Result<(Option<u8>, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((None, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        // Like sdssplitlen: an empty list has no element at all.
        for name in list.split(',').filter(|_| !list.is_empty()) {
            let Some((bit, _)) = SCRIPT_FLAG_NAMES.iter().find(|(_, n)| *n == name) else {
                return Err(format!("Unexpected flag in script shebang: {name}"));
            };
            flags |= bit;
        }
    }
    Ok((Some(flags), end))
}

/// Lowercase hex sha1 of a script body.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// What `redis.call` needs while one script runs.
struct Bridge<'c, 'a> {
    ctx: RefCell<&'c mut Ctx<'a>>,
    scratch: RefCell<Reply>,
    run: &'c ScriptRun,
    readonly: bool,
}

impl Bridge<'_, '_> {
    /// Runs one command for the script: returns the converted reply and
    /// whether it is an error (which `redis.call` raises).
    fn call(&self, lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
        let fail = |text: String| -> mlua::Result<(Value, bool)> {
            Ok((Value::Table(err_table(lua, &text)?), true))
        };
        if args.is_empty() {
            return fail(error_text(
                "Please specify at least one argument for this redis lib call",
            ));
        }
        let mut argv = Vec::with_capacity(args.len());
        for v in args {
            match v {
                Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
                Value::Integer(i) => argv.push(Bytes::from(i.to_string())),
                Value::Number(n) => argv.push(Bytes::from(format_double(n))),
                _ => {
                    return fail(error_text(
                        "Lua redis lib command arguments must be strings or integers",
                    ))
                }
            }
        }
        let found = match crate::cmd::dispatch::resolve(&argv) {
            Ok(f) => f,
            Err(CmdError::Arity(_)) => {
                return fail(error_text(
                    "Wrong number of args calling Redis command from script",
                ))
            }
            Err(e) if crate::cmd::command::lookup(&argv[0]).is_some() => {
                return fail(e.to_string())
            }
            Err(_) => return fail(error_text("Unknown Redis command called from script")),
        };
        let cmd = found.cmd;
        if cmd.has(flags::NOSCRIPT) {
            return fail(error_text("This Redis command is not allowed from script"));
        }
        // Redis counts may-replicate commands (PUBLISH, PFCOUNT) as writes here.
        if self.readonly && cmd.has(flags::WRITE | flags::MAY_REPLICATE) {
            return fail(error_text(
                "Write commands are not allowed from read-only scripts.",
            ));
        }
        let mut guard = self.ctx.borrow_mut();
        let ctx: &mut Ctx<'_> = &mut guard;
        if cmd.has(flags::WRITE) && crate::cmd::replication::refuses_writes(ctx.shared) {
            return fail(crate::cmd::replication::READONLY.to_string());
        }
        if cmd.has(flags::DENYOOM) {
            if let Err(e) = ctx.shared.ensure_memory() {
                return fail(e.to_string());
            }
        }
        if cmd.has(flags::WRITE) {
            self.run.wrote.store(true, Ordering::Release);
        }
        let mut scratch = self.scratch.borrow_mut();
        scratch.buf.clear();
        {
            let mut sub = Ctx {
                shared: ctx.shared,
                client: &mut *ctx.client,
                out: &mut scratch,
                now_ms: ctx.now_ms,
                after: None,
                exclusive: true,
                paused: false,
            };
            crate::cmd::dispatch::call(&mut sub, found, &argv);
        }
        let frame = decode_reply(&scratch.buf).unwrap_or(ReplyValue::Null);
        let failed = matches!(frame, ReplyValue::Error(_));
        Ok((frame_to_lua(lua, frame)?, failed))
    }
}

/// Redis reply -> Lua value (RESP2 rules).
fn frame_to_lua(lua: &Lua, frame: ReplyValue) -> mlua::Result<Value> {
    Ok(match frame {
        ReplyValue::Integer(i) => Value::Number(i as f64),
        ReplyValue::BulkString(b) => Value::String(lua.create_string(b)?),
        ReplyValue::Null => Value::Boolean(false),
        ReplyValue::SimpleString(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s)?)?;
            Value::Table(t)
        }
        ReplyValue::Error(e) => Value::Table(err_table(lua, &e)?),
        ReplyValue::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, it) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, it)?)?;
            }
            Value::Table(t)
        }
    })
}

/// Lua value -> reply (Redis' `luaReplyToRedisReply`).
fn write_value(out: &mut Reply, v: &Value, depth: usize) {
    match v {
        Value::Boolean(true) => out.int(1),
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(number_to_i64(*n)),
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Table(t) if depth < MAX_DEPTH => write_table(out, t, depth),
        _ => out.null(),
    }
}

fn write_table(out: &mut Reply, t: &Table, depth: usize) {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        out.error(&e.to_string_lossy());
        return;
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        out.simple(&s.to_string_lossy());
        return;
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        out.double(d);
        return;
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array_len(items.len());
    for it in &items {
        write_value(out, it, depth + 1);
    }
}
