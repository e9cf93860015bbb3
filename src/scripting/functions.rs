//! Redis Functions: libraries of Lua functions loaded by FUNCTION LOAD and
//! called by FCALL. Holds the libraries and their VM (a second `Engine`, as
//! Redis keeps functions apart from EVAL scripts), parses the `#!lua name=`
//! metadata, implements `redis.register_function`, and reads/writes the
//! FUNCTION DUMP payload in Redis' own format (RDB_OPCODE_FUNCTION2 + RDB
//! string per library, RDB version, CRC64), so payloads move between
//! redis-server 7.0 and ringcache both ways.
//!
//! Environments: each library's chunk runs with a table of its own as
//! globals whose metatable first points at a load-time API (only
//! `redis.register_function`, `redis.log` and the log levels, as in Redis);
//! once loaded it points at the VM's runtime globals, so the library's
//! functions see `redis.call`, `string`, ... but never `KEYS`/`ARGV`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

use super::engine::{raise, Engine, SCRIPT_FLAG_NAMES};
use crate::node::gate::ScriptRun;
use crate::store::rdb::{finish, verify, write_len, Reader};

/// A library's chunk may run this long before FUNCTION LOAD gives up (Redis' LOAD_TIMEOUT_MS).
const LOAD_TIMEOUT_MS: u64 = 500;

/// RDB opcode of a library in the released 7.0 format (its code as one string).
const OPCODE_FUNCTION2: u8 = 245;
/// RDB opcode of the 7.0 release-candidate format (name, engine, description, body).
const OPCODE_FUNCTION_PRE_GA: u8 = 246;

/// The error for a bad library or function name (Redis 7.0 uses the library
/// wording for both).
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// Library and function counts published for FUNCTION STATS, which must
/// answer while a busy function holds the registry.
#[derive(Debug, Default)]
pub struct Counts {
    /// Loaded libraries.
    pub libraries: AtomicU64,
    /// Registered functions over all libraries.
    pub functions: AtomicU64,
}

/// One registered function.
#[derive(Debug)]
pub struct FunctionDef {
    /// Name as registered (lookups ignore case).
    pub name: String,
    /// Optional description.
    pub description: Option<Bytes>,
    /// Bit set of `SCRIPT_FLAG_NAMES`.
    pub flags: u8,
    /// The Lua callback.
    pub func: Function,
}

/// One loaded library.
#[derive(Debug)]
pub struct Library {
    /// Library name (case-sensitive).
    pub name: String,
    /// The code as given to FUNCTION LOAD, shebang included.
    pub code: Bytes,
    /// Its functions, in registration order.
    pub functions: Vec<FunctionDef>,
}

/// Functions registered by the chunk being loaded (None outside FUNCTION LOAD).
type Pending = Arc<Mutex<Option<Vec<FunctionDef>>>>;

/// Lua side of the load-time API: read-only proxies that raise Redis' errors.
const LOAD_API: &str = r#"
local register = ...
local function readonly() error('Attempt to modify a readonly table', 2) end
local function proxy(real)
  return setmetatable({}, {
    __index = function(_, name)
      local v = real[name]
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
      end
      return v
    end,
    __newindex = readonly,
  })
end
local api = proxy({
  redis = proxy({
    register_function = register,
    log = redis.log,
    LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
    REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
  }),
})
-- A library environment: globals of its own, resolved through the load
-- API until the library is loaded (then through the runtime globals).
return function()
  local mt = { __index = api, __newindex = readonly }
  return setmetatable({}, mt), mt
end
"#;

/// The node's function libraries and the VM they live in.
pub struct Registry {
    engine: Engine,
    libraries: BTreeMap<String, Library>,
    /// Lowercase function name -> library name.
    index: HashMap<String, String>,
    pending: Pending,
    /// `new_env()` -> library environment and its metatable.
    new_env: Function,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("libraries", &self.libraries.len())
            .finish()
    }
}

/// True for Redis' valid library/function names: `[A-Za-z0-9_]+`.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Parses the `#!<engine> name=<lib>` first line (Redis'
/// `functionExtractLibMetaData` and its checks); returns the library name
/// and where the code after the shebang starts (at its newline, so line
/// numbers in errors match Redis').
pub fn parse_metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let line = String::from_utf8_lossy(&code[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(first) = parts.next() else {
        return Err("Invalid library metadata".into());
    };
    let engine = &first[2..];
    let mut name: Option<&str> = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(&part[5..]);
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if !valid_name(name.as_bytes()) {
        return Err(BAD_NAME.into());
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    Ok((name.to_string(), end))
}

/// A Lua string or number as text (Lua's `lua_isstring` accepts both).
fn lua_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(crate::resp::reply::format_double(*n)),
        _ => None,
    }
}

/// The `ERR ...` error `redis.register_function` raises.
fn reg_err(msg: &str) -> mlua::Error {
    raise(format!("ERR {msg}"))
}

/// Parses the flags table of the named-argument form.
fn parse_flags(v: &Value) -> mlua::Result<u8> {
    let Value::Table(t) = v else {
        return Err(reg_err(
            "flags argument to redis.register_function must be a table representing function flags",
        ));
    };
    let mut flags = 0;
    for item in t.clone().sequence_values::<Value>() {
        let name = lua_text(&item?).unwrap_or_default();
        let Some((bit, _)) = SCRIPT_FLAG_NAMES.iter().find(|(_, n)| *n == name) else {
            return Err(reg_err("unknown flag given"));
        };
        flags |= bit;
    }
    Ok(flags)
}

/// Reads `redis.register_function`'s arguments (positional or named) into a
/// definition, with Redis' error for each misuse.
fn read_registration(args: MultiValue) -> mlua::Result<FunctionDef> {
    let args: Vec<Value> = args.into_iter().collect();
    let (mut name, mut func, mut description, mut flags) = (None, None, None, 0);
    match args.as_slice() {
        [Value::Table(t)] => {
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                let Some(key) = lua_text(&k) else {
                    return Err(reg_err(
                        "named argument key given to redis.register_function is not a string",
                    ));
                };
                match key.as_str() {
                    "function_name" => {
                        name = Some(lua_text(&v).ok_or_else(|| {
                            reg_err("function_name argument given to redis.register_function must be a string")
                        })?);
                    }
                    "description" => {
                        description = Some(Bytes::from(lua_text(&v).ok_or_else(|| {
                            reg_err("description argument given to redis.register_function must be a string")
                        })?));
                    }
                    "callback" => match v {
                        Value::Function(f) => func = Some(f),
                        _ => return Err(reg_err(
                            "callback argument given to redis.register_function must be a function",
                        )),
                    },
                    "flags" => flags = parse_flags(&v)?,
                    _ => return Err(reg_err("unknown argument given to redis.register_function")),
                }
            }
            if name.is_none() {
                return Err(reg_err(
                    "redis.register_function must get a function name argument",
                ));
            }
            if func.is_none() {
                return Err(reg_err(
                    "redis.register_function must get a callback argument",
                ));
            }
        }
        [_] => {
            return Err(reg_err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
        }
        [n, f] => {
            name = Some(lua_text(n).ok_or_else(|| {
                reg_err("first argument to redis.register_function must be a string")
            })?);
            match f {
                Value::Function(f) => func = Some(f.clone()),
                _ => {
                    return Err(reg_err(
                        "second argument to redis.register_function must be a function",
                    ))
                }
            }
        }
        _ => {
            return Err(reg_err(
                "wrong number of arguments to redis.register_function",
            ))
        }
    }
    match (name, func) {
        (Some(name), Some(func)) => Ok(FunctionDef {
            name,
            description,
            flags,
            func,
        }),
        _ => Err(reg_err(
            "wrong number of arguments to redis.register_function",
        )),
    }
}

impl Registry {
    /// A registry with no libraries and a fresh VM.
    pub fn new(run: Arc<ScriptRun>) -> mlua::Result<Registry> {
        let engine = Engine::new(run)?;
        let pending: Pending = Arc::new(Mutex::new(None));
        let sink = pending.clone();
        let register = engine.lua().create_function(move |_, args: MultiValue| {
            let def = read_registration(args)?;
            if !valid_name(def.name.as_bytes()) {
                return Err(reg_err(BAD_NAME));
            }
            let mut guard = sink.lock();
            let Some(list) = guard.as_mut() else {
                return Err(reg_err(
                    "redis.register_function can only be called on FUNCTION LOAD command",
                ));
            };
            // Case-sensitive inside a library, as in Redis 7.0 (lookups are not).
            if list.iter().any(|f| f.name == def.name) {
                return Err(reg_err("Function already exists in the library"));
            }
            list.push(def);
            Ok(())
        })?;
        let new_env: Function = engine
            .lua()
            .load(LOAD_API)
            .set_name("=load_api")
            .call(register)?;
        Ok(Registry {
            engine,
            libraries: BTreeMap::new(),
            index: HashMap::new(),
            pending,
            new_env,
        })
    }

    /// The VM functions run on.
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Libraries in name order.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// The function called `name` (any case).
    pub fn function(&self, name: &[u8]) -> Option<&FunctionDef> {
        let key = String::from_utf8_lossy(name).to_ascii_lowercase();
        let lib = self.libraries.get(self.index.get(&key)?)?;
        // Names differing only in case may share a library: the last one
        // registered wins. (Redis 7.0 keeps whichever its hash-seeded dict
        // iteration meets first, so its choice varies between runs.)
        lib.functions
            .iter()
            .rev()
            .find(|f| f.name.eq_ignore_ascii_case(&key))
    }

    /// Publishes the library and function counts.
    pub fn publish(&self, counts: &Counts) {
        counts
            .libraries
            .store(self.libraries.len() as u64, Ordering::Relaxed);
        let functions: usize = self.libraries.values().map(|l| l.functions.len()).sum();
        counts.functions.store(functions as u64, Ordering::Relaxed);
    }

    /// FUNCTION LOAD [REPLACE]: compiles and links a library, returning its name.
    pub fn load(&mut self, code: &Bytes, replace: bool, run: &ScriptRun) -> Result<String, String> {
        let (name, _) = parse_metadata(code)?;
        if !replace && self.libraries.contains_key(&name) {
            return Err(format!("Library '{name}' already exists"));
        }
        let lib = self.compile(code, run)?;
        self.link(vec![lib], replace, false)
            .map(|mut names| names.pop().unwrap_or_default())
    }

    /// Runs a library's chunk in an environment of its own and collects the
    /// functions it registers.
    fn compile(&mut self, code: &Bytes, run: &ScriptRun) -> Result<Library, String> {
        let (name, body_at) = parse_metadata(code)?;
        let lua: &Lua = self.engine.lua();
        let chunk = lua
            .load(&code[body_at..])
            .set_name("@user_function")
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!("Error compiling function: {msg}")
            })?;
        let (env, mt): (Table, Table) = self.new_env.call(()).map_err(|e| e.to_string())?;
        chunk.set_environment(env).map_err(|e| e.to_string())?;
        *self.pending.lock() = Some(Vec::new());
        run.load_deadline_ms
            .store(crate::store::now_ms() + LOAD_TIMEOUT_MS, Ordering::Release);
        let outcome = self.engine.protected_call(&chunk);
        run.load_deadline_ms.store(0, Ordering::Release);
        let functions = self.pending.lock().take().unwrap_or_default();
        outcome.map_err(|e| format!("Error registering functions: {e}"))?;
        if functions.is_empty() {
            return Err("No functions registered".into());
        }
        mt.raw_set("__index", self.engine.lua().globals())
            .map_err(|e| e.to_string())?;
        Ok(Library {
            name,
            code: code.clone(),
            functions,
        })
    }

    /// Adds compiled libraries all or nothing: a library of the same name is
    /// an error unless `replace`; a function name taken by another library
    /// is always one. `join` selects the wording of FUNCTION RESTORE.
    fn link(
        &mut self,
        libs: Vec<Library>,
        replace: bool,
        join: bool,
    ) -> Result<Vec<String>, String> {
        let incoming: Vec<&str> = libs.iter().map(|l| l.name.as_str()).collect();
        for lib in &libs {
            if !replace && self.libraries.contains_key(&lib.name) {
                return Err(if join {
                    format!("Library {} already exists", lib.name)
                } else {
                    format!("Library '{}' already exists", lib.name)
                });
            }
        }
        for lib in &libs {
            for f in &lib.functions {
                let key = f.name.to_ascii_lowercase();
                if let Some(owner) = self.index.get(&key) {
                    if !(replace && incoming.contains(&owner.as_str())) {
                        return Err(format!("Function {} already exists", f.name));
                    }
                }
            }
        }
        let mut names = Vec::with_capacity(libs.len());
        for lib in libs {
            self.delete(&lib.name);
            for f in &lib.functions {
                self.index
                    .insert(f.name.to_ascii_lowercase(), lib.name.clone());
            }
            names.push(lib.name.clone());
            self.libraries.insert(lib.name.clone(), lib);
        }
        Ok(names)
    }

    /// FUNCTION DELETE: false when there is no such library.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libraries.remove(name) else {
            return false;
        };
        for f in &lib.functions {
            self.index.remove(&f.name.to_ascii_lowercase());
        }
        true
    }

    /// FUNCTION DUMP: every library in Redis' payload format.
    pub fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in self.libraries.values() {
            out.push(OPCODE_FUNCTION2);
            write_len(&mut out, lib.code.len() as u64);
            out.extend_from_slice(&lib.code);
        }
        finish(out)
    }

    /// FUNCTION RESTORE with APPEND (`replace` false) or REPLACE: every
    /// library of the payload, or none.
    pub fn restore(
        &mut self,
        payload: &[u8],
        replace: bool,
        run: &Arc<ScriptRun>,
    ) -> Result<(), String> {
        let codes = read_payload(payload)?;
        // Validate the payload on its own first (duplicates inside it), as Redis
        // loads it into a fresh context before joining.
        let mut scratch = Registry::new(run.clone()).map_err(|e| e.to_string())?;
        for code in &codes {
            scratch.load(code, false, run)?;
        }
        for lib in scratch.libraries.values() {
            if !replace && self.libraries.contains_key(&lib.name) {
                return Err(format!("Library {} already exists", lib.name));
            }
        }
        let mut libs = Vec::with_capacity(codes.len());
        for code in &codes {
            libs.push(self.compile(code, run)?);
        }
        self.link(libs, replace, true).map(|_| ())
    }

    /// FUNCTION RESTORE ... FLUSH: a registry holding only the payload's libraries.
    pub fn restored(payload: &[u8], run: Arc<ScriptRun>) -> Result<Registry, String> {
        let codes = read_payload(payload)?;
        let mut fresh = Registry::new(run.clone()).map_err(|e| e.to_string())?;
        for code in &codes {
            fresh.load(code, false, &run)?;
        }
        Ok(fresh)
    }
}

/// Checks a payload's footer and returns each library's code (Redis'
/// `functionRestoreCommand` / `rdbFunctionLoad`, with their errors).
pub fn read_payload(payload: &[u8]) -> Result<Vec<Bytes>, String> {
    verify(payload).map_err(|e| e.to_string())?;
    let footer = payload.len() - 10;
    // Like Redis, strings are read from the whole buffer: a truncated one runs
    // into the footer rather than failing.
    let mut r = Reader::new(payload);
    let mut codes = Vec::new();
    while r.pos() < footer {
        match r.byte() {
            Some(OPCODE_FUNCTION2) => {
                let code = r
                    .string()
                    .ok_or_else(|| "Failed loading library payload".to_string())?;
                codes.push(Bytes::from(code.into_owned()));
            }
            Some(OPCODE_FUNCTION_PRE_GA) => codes.push(read_pre_ga(&mut r)?),
            Some(_) => return Err("given type is not a function".into()),
            None => return Err("can not read data type".into()),
        }
    }
    Ok(codes)
}

/// A library in the 7.0 release-candidate layout, rewritten as `#!<engine> name=<name>\n<body>`.
fn read_pre_ga(r: &mut Reader<'_>) -> Result<Bytes, String> {
    let name = r.string().ok_or("Failed loading library name")?;
    let engine = r.string().ok_or("Failed loading engine name")?;
    let has_desc = r
        .plain_len()
        .ok_or("Failed loading library description indicator")?;
    if has_desc != 0 {
        r.string().ok_or("Failed loading library description")?;
    }
    let body = r.string().ok_or("Failed loading library blob")?;
    let mut code = Vec::with_capacity(body.len() + name.len() + engine.len() + 10);
    code.extend_from_slice(b"#!");
    code.extend_from_slice(&engine);
    code.extend_from_slice(b" name=");
    code.extend_from_slice(&name);
    code.push(b'\n');
    code.extend_from_slice(&body);
    Ok(Bytes::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_errors_match_redis() {
        assert_eq!(
            parse_metadata(b"return 1").expect_err("an error"),
            "Missing library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a").expect_err("an error"),
            "Invalid library metadata"
        );
        assert_eq!(
            parse_metadata(b"#!lua b=c\n").expect_err("an error"),
            "Invalid metadata value given: b=c"
        );
        assert_eq!(
            parse_metadata(b"#!lua\n").expect_err("an error"),
            "Library name was not given"
        );
        assert_eq!(
            parse_metadata(b"#!foo name=a\n").expect_err("an error"),
            "Engine 'foo' not found"
        );
        assert_eq!(
            parse_metadata(b"#!lua name=a-b\n").expect_err("an error"),
            BAD_NAME
        );
        assert_eq!(
            parse_metadata(b"#!LUA  name=x_1 \nreturn").expect("ok"),
            ("x_1".into(), 16)
        );
    }

    #[test]
    fn payloads_are_checked_and_decoded() {
        assert!(read_payload(b"short").is_err());
        let mut p = vec![OPCODE_FUNCTION2];
        write_len(&mut p, 3);
        p.extend_from_slice(b"abc");
        let mut p = finish(p);
        assert_eq!(
            read_payload(&p).expect("ok"),
            vec![Bytes::from_static(b"abc")]
        );
        let last = p.len() - 1;
        p[last] ^= 1;
        assert!(read_payload(&p).is_err());
        // An LZF-compressed string (what redis-server writes for long libraries).
        let text = b"#!lua name=z\nredis.register_function('z', function() return 'zzzzzzzzzzzzzzzzzzzzzzzz' end)";
        let packed = lzf::compress(text).expect("ok");
        let mut q = vec![OPCODE_FUNCTION2, 0xC3];
        write_len(&mut q, packed.len() as u64);
        write_len(&mut q, text.len() as u64);
        q.extend_from_slice(&packed);
        let q = finish(q);
        assert_eq!(
            read_payload(&q).expect("ok"),
            vec![Bytes::copy_from_slice(text)]
        );
    }
}
