//! COMMAND introspection: COMMAND, COUNT, INFO, DOCS, GETKEYS, LIST and
//! HELP, answered from the registry of `cmd/command.rs` in Redis' formats.

use bytes::Bytes;

use super::command::{self, flags, Command};
use super::ctx::{help_reply, is, Ctx};
use super::key_spec_table::{self, Begin, Find};
use crate::error::{CmdError, CmdResult};

/// The ACL categories Redis reports for `c` (COMMAND INFO, COMMAND LIST FILTERBY ACLCAT).
pub(super) fn acl_categories(c: &Command) -> Vec<String> {
    if let Some(cats) = super::acl_category_table::redis_acl_categories(c.name) {
        return cats.iter().map(|c| c.to_string()).collect();
    }
    let mut v = Vec::new();
    if c.has(flags::WRITE) {
        v.push("@write".to_string());
    }
    if c.has(flags::READONLY) {
        v.push("@read".into());
    }
    // SORT reads lists, sets and sorted sets, and any key through BY/GET:
    // Redis files it under those types and @dangerous instead of @keyspace.
    let sort = matches!(c.name, "sort" | "sort_ro");
    if sort {
        v.extend(["@set", "@sortedset", "@list"].map(String::from));
    }
    let group = match c.group {
        _ if sort => None,
        "generic" => Some("@keyspace"),
        "string" => Some("@string"),
        "hash" => Some("@hash"),
        "list" => Some("@list"),
        "set" => Some("@set"),
        "sorted_set" => Some("@sortedset"),
        "pubsub" => Some("@pubsub"),
        "transactions" => Some("@transaction"),
        "connection" => Some("@connection"),
        "scripting" => Some("@scripting"),
        "bitmap" => Some("@bitmap"),
        "hyperloglog" => Some("@hyperloglog"),
        "geo" => Some("@geo"),
        "stream" => Some("@stream"),
        _ => None,
    };
    if c.has(flags::ADMIN) {
        v.push("@admin".into());
        v.push("@dangerous".into());
    }
    if let Some(g) = group {
        v.push(g.into());
    }
    v.push(if c.has(flags::FAST) {
        "@fast".into()
    } else {
        "@slow".into()
    });
    if c.has(flags::BLOCKING) {
        v.push("@blocking".into());
    }
    // RESTORE writes any bytes it is given, MIGRATE sends keys anywhere:
    // Redis calls them dangerous.
    if sort || matches!(c.name, "restore" | "migrate") {
        v.push("@dangerous".into());
    }
    v
}

/// Writes COMMAND INFO's ten-field entry of `c` (subcommands nested).
fn write_command_info(ctx: &mut Ctx<'_>, c: &Command) {
    ctx.out.array_len(10);
    ctx.out.bulk(c.name.as_bytes());
    ctx.out.int(c.arity as i64);
    let names: Vec<&str> = flags::FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    ctx.out.set_len(names.len());
    for n in names {
        ctx.out.simple(n);
    }
    ctx.out.int(c.first_key as i64);
    ctx.out.int(c.last_key as i64);
    ctx.out.int(c.step as i64);
    let cats = acl_categories(c);
    ctx.out.set_len(cats.len());
    for cat in cats {
        ctx.out.simple(&cat);
    }
    ctx.out.array_len(0);
    if let Some(specs) = key_spec_table::redis_key_specs(c.name) {
        write_redis_key_specs(ctx, specs);
    } else if c.first_key > 0 {
        ctx.out.array_len(1);
        ctx.out.map_len(3);
        ctx.out.bulk(b"flags");
        ctx.out.set_len(1);
        ctx.out
            .simple(if c.has(flags::WRITE) { "RW" } else { "RO" });
        ctx.out.bulk(b"begin_search");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"index");
        ctx.out.bulk(b"spec");
        ctx.out.map_len(1);
        ctx.out.bulk(b"index");
        ctx.out.int(c.first_key as i64);
        ctx.out.bulk(b"find_keys");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"range");
        ctx.out.bulk(b"spec");
        ctx.out.map_len(3);
        ctx.out.bulk(b"lastkey");
        ctx.out.int(if c.last_key < 0 {
            c.last_key as i64
        } else {
            (c.last_key - c.first_key) as i64
        });
        ctx.out.bulk(b"keystep");
        ctx.out.int(c.step as i64);
        ctx.out.bulk(b"limit");
        ctx.out.int(0);
    } else {
        ctx.out.array_len(0);
    }
    ctx.out.array_len(c.subcommands.len());
    for s in c.subcommands {
        write_command_info(ctx, s);
    }
}

/// Writes Redis' key specs (COMMAND INFO's ninth field) as Redis does.
fn write_redis_key_specs(ctx: &mut Ctx<'_>, specs: &[key_spec_table::KeySpec]) {
    ctx.out.array_len(specs.len());
    for spec in specs {
        ctx.out.map_len(3 + spec.notes.is_some() as usize);
        if let Some(notes) = spec.notes {
            ctx.out.bulk(b"notes");
            ctx.out.bulk(notes.as_bytes());
        }
        ctx.out.bulk(b"flags");
        ctx.out.set_len(spec.flags.len());
        for f in spec.flags {
            ctx.out.simple(f);
        }
        ctx.out.bulk(b"begin_search");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        match spec.begin {
            Begin::Index(i) => {
                ctx.out.bulk(b"index");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(1);
                ctx.out.bulk(b"index");
                ctx.out.int(i64::from(i));
            }
            Begin::Keyword(word, from) => {
                ctx.out.bulk(b"keyword");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(2);
                ctx.out.bulk(b"keyword");
                ctx.out.bulk(word.as_bytes());
                ctx.out.bulk(b"startfrom");
                ctx.out.int(i64::from(from));
            }
            Begin::Unknown => {
                ctx.out.bulk(b"unknown");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(0);
            }
        }
        ctx.out.bulk(b"find_keys");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        match spec.find {
            Find::Range { last, step, limit } => {
                ctx.out.bulk(b"range");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(3);
                for (k, v) in [("lastkey", last), ("keystep", step), ("limit", limit)] {
                    ctx.out.bulk(k.as_bytes());
                    ctx.out.int(i64::from(v));
                }
            }
            Find::Keynum {
                numidx,
                first,
                step,
            } => {
                ctx.out.bulk(b"keynum");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(3);
                for (k, v) in [
                    ("keynumidx", numidx),
                    ("firstkey", first),
                    ("keystep", step),
                ] {
                    ctx.out.bulk(k.as_bytes());
                    ctx.out.int(i64::from(v));
                }
            }
            Find::Unknown => {
                ctx.out.bulk(b"unknown");
                ctx.out.bulk(b"spec");
                ctx.out.map_len(0);
            }
        }
    }
}

/// COMMAND (no subcommand): info of every command.
fn command_all(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.array_len(command::top_level().len());
    for c in command::top_level() {
        write_command_info(ctx, c);
    }
    Ok(())
}

/// COMMAND COUNT
pub fn command_count(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(command::top_level().len() as i64);
    Ok(())
}

/// A command or subcommand (`config|get`) by any-case full name.
fn find_any(name: &[u8]) -> Option<&'static Command> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    command::all_commands()
        .iter()
        .copied()
        .find(|c| c.name == lower)
}

/// COMMAND INFO [name ...]
pub fn command_info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return command_all(ctx);
    }
    ctx.out.array_len(args.len() - 2);
    for a in &args[2..] {
        match find_any(a) {
            Some(c) => write_command_info(ctx, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Writes COMMAND DOCS' entry of `c` (subcommands nested).
fn write_docs(ctx: &mut Ctx<'_>, c: &Command) {
    ctx.out.bulk(c.name.as_bytes());
    let has_subs = !c.subcommands.is_empty();
    ctx.out.map_len(3 + has_subs as usize);
    // Redis' one-line summary: the table carries none, so it is empty.
    ctx.out.bulk(b"summary");
    ctx.out.bulk(b"");
    ctx.out.bulk(b"since");
    ctx.out.bulk(b"1.0.0");
    ctx.out.bulk(b"group");
    ctx.out.bulk(c.group.as_bytes());
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map_len(c.subcommands.len());
        for s in c.subcommands {
            write_docs(ctx, s);
        }
    }
}

/// COMMAND DOCS [name ...]
pub fn command_docs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cmds: Vec<&'static Command> = if args.len() == 2 {
        command::top_level().iter().collect()
    } else {
        args[2..].iter().filter_map(|a| find_any(a)).collect()
    };
    ctx.out.map_len(cmds.len());
    for c in cmds {
        write_docs(ctx, c);
    }
    Ok(())
}

/// COMMAND GETKEYS command [arg ...]
pub fn command_getkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let inner = &args[2..];
    let found = super::dispatch::resolve(inner).map_err(|e| match e {
        CmdError::Arity(_) => CmdError::err("Invalid number of arguments specified for command"),
        _ => CmdError::err("Invalid command specified"),
    })?;
    let pos = found.cmd.key_positions(inner);
    if pos.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    ctx.out.array_len(pos.len());
    for p in pos {
        ctx.out.bulk(&inner[p]);
    }
    Ok(())
}

/// COMMAND GETKEYSANDFLAGS command [arg ...]: the keys and Redis' key flags
/// (`RW`, `access`, ...), from Redis' key specs where they suffice
/// (`key_spec_table`), else from the command's own key finder with the flags
/// Redis' finder gives.
pub fn command_getkeysandflags(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let inner = &args[2..];
    let found = super::dispatch::resolve(inner).map_err(|e| match e {
        CmdError::Arity(_) => CmdError::err("Invalid number of arguments specified for command"),
        _ => CmdError::err("Invalid command specified"),
    })?;
    let cmd = found.cmd;
    let specs = key_spec_table::redis_key_specs(cmd.name);
    let positions = cmd.key_positions(inner);
    if specs.is_none() && positions.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    // Like Redis: the specs decide unless only the command's finder can
    // (flags that vary with the arguments, a spec it cannot follow).
    let finder_decides = specs.is_none_or(|s| {
        s.iter().any(|k| {
            k.flags.contains(&"variable_flags")
                || k.flags.contains(&"incomplete")
                || matches!(k.begin, Begin::Unknown)
                || matches!(k.find, Find::Unknown)
        })
    });
    let keys = match specs {
        Some(s) if !finder_decides => key_spec_table::keys_by_specs(s, inner).unwrap_or_default(),
        _ => positions
            .iter()
            .enumerate()
            .map(|(n, &p)| (p, finder_key_flags(cmd.name, inner, n, specs)))
            .collect(),
    };
    if keys.is_empty() {
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    ctx.out.array_len(keys.len());
    for (pos, flags) in keys {
        ctx.out.array_len(2);
        ctx.out.bulk(&inner[pos]);
        ctx.out.set_len(flags.len());
        for f in flags {
            ctx.out.simple(f);
        }
    }
    Ok(())
}

/// The flags Redis' own key finders give the `n`th key of `args`: SET's
/// depend on GET, BITFIELD's on whether it writes, SORT's destination is
/// written; otherwise the first spec's, without the spec-only markers.
fn finder_key_flags(
    name: &str,
    args: &[Bytes],
    n: usize,
    specs: Option<&'static [key_spec_table::KeySpec]>,
) -> &'static [&'static str] {
    let has = |word: &str| args.iter().skip(2).any(|a| is(a, word));
    match name {
        "set" if has("get") => &["RW", "access", "update"],
        "set" => &["OW", "update"],
        "bitfield" if has("set") || has("incrby") => &["RW", "access", "update"],
        "bitfield" => &["RO", "access"],
        "sort" | "sort_ro" if n > 0 => &["OW", "update"],
        "sort" | "sort_ro" => &["RO", "access"],
        _ => match specs.and_then(|s| s.get(n.min(s.len() - 1))) {
            Some(k) if k.flags.ends_with(&["incomplete"]) => &k.flags[..k.flags.len() - 1],
            Some(k) => k.flags,
            None => &["RW"],
        },
    }
}

/// COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]
pub fn command_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut names: Vec<&str> = command::all_commands().iter().map(|c| c.name).collect();
    if args.len() > 2 {
        if args.len() != 5 || !is(&args[2], "filterby") {
            return Err(CmdError::Syntax);
        }
        let v = &args[4];
        if is(&args[3], "pattern") {
            names.retain(|n| crate::util::glob_match(v, n.as_bytes(), true));
        } else if is(&args[3], "aclcat") {
            let want = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
            names = command::all_commands()
                .iter()
                .filter(|c| acl_categories(c).contains(&want))
                .map(|c| c.name)
                .collect();
        } else if is(&args[3], "module") {
            names.clear();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    ctx.out.bulks(names.iter());
    Ok(())
}

/// COMMAND HELP
pub fn command_help(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let _ = args;
    help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

/// COMMAND with no subcommand (the container's own handler).
pub fn command(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    command_all(ctx)
}
