//! ACL (the read side): what Redis 7.0 reports for a node with only the
//! `default` user. ringcache has one user, `default`,
//! with every permission, password-protected by `requirepass`; so the
//! commands that only read that state answer exactly as Redis does for it,
//! while ACL SETUSER/DELUSER/LOAD/SAVE/LOG (real users, an ACL file) are not
//! in the table.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::command;
use super::ctx::{arg_i64, help_reply, Ctx};
use super::introspect::acl_categories;
use crate::error::{CmdError, CmdResult};

/// Redis' ACL categories, in `ACL CAT` order.
const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The only user.
const DEFAULT_USER: &str = "default";

/// SHA-256 of `requirepass` in hex, as ACL LIST/GETUSER show passwords;
/// None when the default user needs none (`nopass`).
fn password_hash(ctx: &Ctx<'_>) -> Option<String> {
    let pass = ctx.shared.config.read().requirepass.clone();
    if pass.is_empty() {
        return None;
    }
    let digest = Sha256::digest(pass.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Errors with Redis' text unless `name` is the default user.
fn known_user(name: &[u8]) -> Result<(), CmdError> {
    if name == DEFAULT_USER.as_bytes() {
        Ok(())
    } else {
        Err(CmdError::err(format!(
            "User '{}' not found",
            String::from_utf8_lossy(name)
        )))
    }
}

/// ACL CAT [category]
pub fn acl_cat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let Some(cat) = args.get(2) else {
        ctx.out.bulks(CATEGORIES.iter());
        return Ok(());
    };
    let cat = String::from_utf8_lossy(cat).to_ascii_lowercase();
    if !CATEGORIES.contains(&cat.as_str()) {
        return Err(CmdError::err(format!("Unknown category '{cat}'")));
    }
    let tag = format!("@{cat}");
    let names: Vec<&str> = command::all_commands()
        .iter()
        .filter(|c| acl_categories(c).contains(&tag))
        .map(|c| c.name)
        .collect();
    ctx.out.bulks(names.iter());
    Ok(())
}

/// ACL WHOAMI
pub fn acl_whoami(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(DEFAULT_USER.as_bytes());
    Ok(())
}

/// ACL USERS
pub fn acl_users(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.bulks([DEFAULT_USER].iter());
    Ok(())
}

/// ACL LIST: the default user in ACL-file syntax.
pub fn acl_list(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let pass = match password_hash(ctx) {
        Some(h) => format!("#{h}"),
        None => "nopass".into(),
    };
    let line = format!("user {DEFAULT_USER} on {pass} ~* &* +@all");
    ctx.out.bulks([line].iter());
    Ok(())
}

/// ACL GETUSER username
pub fn acl_getuser(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args[2].as_ref() != DEFAULT_USER.as_bytes() {
        ctx.out.null();
        return Ok(());
    }
    let hash = password_hash(ctx);
    ctx.out.map_len(6);
    ctx.out.bulk(b"flags");
    let flags: &[&str] = if hash.is_some() {
        &["on"]
    } else {
        &["on", "nopass"]
    };
    ctx.out.set_len(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"passwords");
    ctx.out.bulks(hash.iter());
    for (field, value) in [("commands", "+@all"), ("keys", "~*"), ("channels", "&*")] {
        ctx.out.bulk(field.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    ctx.out.bulk(b"selectors");
    ctx.out.array_len(0);
    Ok(())
}

/// ACL GENPASS [bits]: a random password of `bits` bits in hex.
pub fn acl_genpass(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bits = match args.get(2) {
        Some(b) => arg_i64(b)?,
        None => 256,
    };
    if !(1..=4096).contains(&bits) {
        return Err(CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

/// ACL DRYRUN username command [arg ...]: whether the user may run it (the
/// default user may run everything that exists with a valid arity).
pub fn acl_dryrun(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    known_user(&args[2])?;
    let inner = &args[3..];
    super::dispatch::resolve_raw(inner).map_err(|e| match e {
        super::dispatch::Rejection::Error(e) => e,
        super::dispatch::Rejection::Unknown(_) => CmdError::err(format!(
            "Command '{}' not found",
            String::from_utf8_lossy(&inner[0])
        )),
    })?;
    ctx.out.ok();
    Ok(())
}

/// ACL HELP
pub fn acl_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
