//! The raw-access functions of the read-only Lua environment (`rawset`,
//! `rawget`, `next`, `pairs`, `table.insert`, `getmetatable`,
//! `setmetatable`). The engine's `PROTECT` chunk
//! empties each protected table into a hidden backing table; these read
//! through it and refuse writes to it with Redis 7.0's `Attempt to modify a
//! readonly table`, and otherwise behave as Lua 5.1's own (`lbaselib.c`,
//! `ltablib.c`), argument errors included.
//!
//! They are C functions written against the Lua API, not Lua wrappers or
//! mlua callbacks: Lua 5.1 drops a Lua caller's frame on a tail call but
//! never a C function's, so `return rawset()` keeps the script's position
//! in its error as in Redis; and values pass through untouched (mlua's
//! conversion would turn numbers within 2^-52 of an integer into integers).

use std::ffi::{c_int, CStr};

use mlua::ffi::{self, lua_State};
use mlua::{Function, Lua, Table};

/// Registry key of the table: protected table -> its contents.
const BACKING: &CStr = c"ringcache.readonly.backing";
/// Registry key of the table: protected table -> the metatable
/// `getmetatable` shows for it.
const SHOWN: &CStr = c"ringcache.readonly.shown";
/// Registry key of the table: real metatable -> its read-only view.
const VIEWS: &CStr = c"ringcache.readonly.views";
/// Registry key of the `next` that `pairs` returns (as in Lua, a function
/// object of its own, not the global `next`).
const NEXT: &CStr = c"ringcache.readonly.pairs_next";
/// Redis 7.0's error for writes to a read-only table.
const READONLY: &CStr = c"Attempt to modify a readonly table";

/// Pushes the backing table of the table at `idx` (nil for ordinary ones).
///
/// # Safety
/// `l` is a running Lua state with a value at `idx` (positive index).
unsafe fn push_backing(l: *mut lua_State, idx: c_int) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, BACKING.as_ptr());
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget(l, -2);
    ffi::lua_remove(l, -2);
}

/// Raises READONLY (without position, as Redis' C check does) when the
/// table at `idx` is protected.
///
/// # Safety
/// As `push_backing`; may not return (`lua_error`).
unsafe fn refuse_protected(l: *mut lua_State, idx: c_int) {
    push_backing(l, idx);
    let protected = ffi::lua_isnil(l, -1) == 0;
    ffi::lua_pop(l, 1);
    if protected {
        ffi::lua_pushstring(l, READONLY.as_ptr());
        ffi::lua_error(l);
    }
}

/// Replaces the table at `idx` by its backing table when it has one.
///
/// # Safety
/// As `push_backing`.
unsafe fn read_through(l: *mut lua_State, idx: c_int) {
    push_backing(l, idx);
    if ffi::lua_isnil(l, -1) == 0 {
        ffi::lua_replace(l, idx);
    } else {
        ffi::lua_pop(l, 1);
    }
}

/// `rawset(t, k, v)` (`luaB_rawset`), refusing protected tables.
unsafe extern "C-unwind" fn rawset(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    ffi::luaL_checkany(l, 3);
    refuse_protected(l, 1);
    ffi::lua_settop(l, 3);
    ffi::lua_rawset(l, 1);
    1
}

/// `rawget(t, k)` (`luaB_rawget`), reading protected tables' contents.
unsafe extern "C-unwind" fn rawget(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::luaL_checkany(l, 2);
    read_through(l, 1);
    ffi::lua_settop(l, 2);
    ffi::lua_rawget(l, 1);
    1
}

/// `next(t [, k])` (`luaB_next`), iterating protected tables' contents.
unsafe extern "C-unwind" fn next(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    read_through(l, 1);
    ffi::lua_settop(l, 2);
    if ffi::lua_next(l, 1) != 0 {
        2
    } else {
        ffi::lua_pushnil(l);
        1
    }
}

/// `pairs(t)` (`luaB_pairs`): this module's `next`, `t`, nil.
unsafe extern "C-unwind" fn pairs(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, NEXT.as_ptr());
    ffi::lua_pushvalue(l, 1);
    ffi::lua_pushnil(l);
    3
}

/// Replaces the value on top by `registry[key][value]` when that is set.
///
/// # Safety
/// `l` is a running Lua state with a value on top.
unsafe fn map_top(l: *mut lua_State, key: &CStr) {
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, key.as_ptr());
    ffi::lua_pushvalue(l, -2);
    ffi::lua_rawget(l, -2);
    if ffi::lua_isnil(l, -1) == 0 {
        ffi::lua_replace(l, -3);
        ffi::lua_pop(l, 1);
    } else {
        ffi::lua_pop(l, 2);
    }
}

/// `getmetatable(x)` (`luaB_getmetatable`): what `shown` says for a
/// protected table, else the metatable (or its `__metatable` field), a
/// read-only view in place of a protected one.
unsafe extern "C-unwind" fn getmetatable(l: *mut lua_State) -> c_int {
    ffi::luaL_checkany(l, 1);
    ffi::lua_settop(l, 1);
    push_backing(l, 1);
    let protected = ffi::lua_isnil(l, -1) == 0;
    ffi::lua_pop(l, 1);
    if protected {
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, SHOWN.as_ptr());
        ffi::lua_pushvalue(l, 1);
        ffi::lua_rawget(l, -2);
        return 1;
    }
    if ffi::lua_getmetatable(l, 1) == 0 {
        ffi::lua_pushnil(l);
        return 1;
    }
    ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr());
    map_top(l, VIEWS);
    1
}

/// `setmetatable(t, m)` (`luaB_setmetatable`), refusing protected tables.
unsafe extern "C-unwind" fn setmetatable(l: *mut lua_State) -> c_int {
    let t = ffi::lua_type(l, 2);
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
        ffi::luaL_argerror(l, 2, c"nil or table expected".as_ptr());
    }
    refuse_protected(l, 1);
    if ffi::luaL_getmetafield(l, 1, c"__metatable".as_ptr()) != 0 {
        ffi::luaL_error(l, c"cannot change a protected metatable".as_ptr());
    }
    ffi::lua_settop(l, 2);
    ffi::lua_setmetatable(l, 1);
    1
}

/// `table.insert(t, [pos,] v)` (`tinsert`), refusing protected tables.
unsafe extern "C-unwind" fn insert(l: *mut lua_State) -> c_int {
    ffi::luaL_checktype(l, 1, ffi::LUA_TTABLE);
    let mut e = ffi::lua_objlen(l, 1) as ffi::lua_Integer + 1;
    let pos = match ffi::lua_gettop(l) {
        2 => e,
        // luaL_checkint: the integer as C's int.
        3 => ffi::lua_Integer::from(ffi::luaL_checkinteger(l, 2) as c_int),
        _ => {
            ffi::luaL_error(l, c"wrong number of arguments to 'insert'".as_ptr());
            return 0;
        }
    };
    refuse_protected(l, 1);
    if pos > e {
        e = pos;
    }
    let mut i = e;
    while i > pos {
        ffi::lua_rawgeti(l, 1, i - 1);
        ffi::lua_rawseti(l, 1, i);
        i -= 1;
    }
    ffi::lua_rawseti(l, 1, pos);
    0
}

/// The functions, by name, for the protected tables of `backing`
/// (protected table -> its contents), `shown` (protected table -> the
/// metatable `getmetatable` shows) and `views` (real metatable -> its
/// read-only view).
pub fn functions(lua: &Lua, backing: Table, shown: Table, views: Table) -> mlua::Result<Table> {
    lua.set_named_registry_value(&BACKING.to_string_lossy(), backing)?;
    lua.set_named_registry_value(&SHOWN.to_string_lossy(), shown)?;
    lua.set_named_registry_value(&VIEWS.to_string_lossy(), views)?;
    let out = lua.create_table()?;
    let made: [(&str, ffi::lua_CFunction); 7] = [
        ("rawset", rawset),
        ("rawget", rawget),
        ("next", next),
        ("pairs", pairs),
        ("insert", insert),
        ("getmetatable", getmetatable),
        ("setmetatable", setmetatable),
    ];
    for (name, f) in made {
        // SAFETY: each function only uses the Lua API on its own frame,
        // checks its arguments first, and holds no Rust value that needs
        // dropping when a Lua error unwinds through it.
        let f: Function = unsafe { lua.create_c_function(f)? };
        out.raw_set(name, f)?;
    }
    // SAFETY: as above.
    let pairs_next: Function = unsafe { lua.create_c_function(next)? };
    lua.set_named_registry_value(&NEXT.to_string_lossy(), pairs_next)?;
    Ok(out)
}
