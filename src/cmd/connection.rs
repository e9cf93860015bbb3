//! Connection commands: PING, ECHO, QUIT, RESET, AUTH, HELLO, SELECT, CLIENT.

use bytes::Bytes;

use super::client::ReplyMode;
use super::ctx::{arg_i64, is, After, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::pause::PauseMode;
use crate::resp::Proto;

/// Version reported to clients (the Redis release whose behaviour is matched).
pub const REDIS_VERSION: &str = "7.0.15";

/// PING [message]
pub fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::Arity("ping".into()));
    }
    if ctx.client.subscriptions() > 0 && !ctx.out.resp3() {
        // RESP2 subscribers get a multi-bulk so clients can tell it from messages.
        ctx.out.array_len(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).map_or(&b""[..], |m| m));
        return Ok(());
    }
    match args.get(1) {
        Some(m) => ctx.out.bulk(m),
        None => ctx.out.simple("PONG"),
    }
    Ok(())
}

/// ECHO message
pub fn echo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(())
}

/// QUIT
pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.after = Some(After::Close);
    Ok(())
}

/// RESET
pub fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = &mut *ctx.client;
    if let Some(subs) = c.pubsub.as_mut() {
        subs.clear(&ctx.shared.pubsub);
    }
    c.multi = None;
    c.multi_error = false;
    ctx.shared.tracking.disable(&ctx.shared.node, c.id());
    ctx.shared.watches.unwatch_all(c.id(), &c.watching);
    c.watching.clear();
    c.db = 0;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.authenticated = ctx.shared.config.read().requirepass.is_empty();
    ctx.out.proto = Proto::Resp2;
    {
        let mut m = c.handle.meta.lock();
        m.name.clear();
        m.db = 0;
        m.resp = 2;
        m.multi = -1;
    }
    ctx.out.simple("RESET");
    Ok(())
}

fn check_password(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let required = ctx.shared.config.read().requirepass.clone();
    // Without requirepass the default user is `nopass`: any password works.
    if user == b"default" && (required.is_empty() || pass == required.as_bytes()) {
        ctx.client.authenticated = true;
        Ok(())
    } else {
        Err(CmdError::Other(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ))
    }
}

/// AUTH [username] password
pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 && ctx.shared.config.read().requirepass.is_empty() {
        return Err(CmdError::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    let (user, pass): (&[u8], &[u8]) = if args.len() == 3 {
        (&args[1], &args[2])
    } else {
        (b"default", &args[1])
    };
    check_password(ctx, user, pass)?;
    ctx.out.ok();
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut proto = None;
    if args.len() >= 2 {
        let v = crate::util::parse_i64(&args[1])
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::Other(
                "NOPROTO unsupported protocol version".into(),
            ));
        }
        proto = Some(v);
    }
    let mut i = 2;
    let mut setname = None;
    while i < args.len() {
        if is(&args[i], "auth") && i + 2 < args.len() {
            let (u, p) = (args[i + 1].clone(), args[i + 2].clone());
            check_password(ctx, &u, &p)?;
            i += 3;
        } else if is(&args[i], "setname") && i + 1 < args.len() {
            validate_name(&args[i + 1])?;
            setname = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError::Other("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(n) = setname {
        ctx.client.handle.meta.lock().name = String::from_utf8_lossy(&n).into_owned();
    }
    if let Some(v) = proto {
        ctx.out.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
        ctx.client.handle.meta.lock().resp = v as u8;
    }
    let cluster = ctx.cluster_enabled();
    ctx.out.map_len(7);
    ctx.out.bulk(b"server");
    ctx.out.bulk(b"redis");
    ctx.out.bulk(b"version");
    ctx.out.bulk(REDIS_VERSION.as_bytes());
    ctx.out.bulk(b"proto");
    ctx.out.int(if ctx.out.resp3() { 3 } else { 2 });
    ctx.out.bulk(b"id");
    ctx.out.int(ctx.client.id() as i64);
    ctx.out.bulk(b"mode");
    ctx.out
        .bulk(if cluster { b"cluster" } else { b"standalone" });
    ctx.out.bulk(b"role");
    ctx.out.bulk(b"master");
    ctx.out.bulk(b"modules");
    ctx.out.array_len(0);
    Ok(())
}

/// SELECT index
pub fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = arg_i64(&args[1])?;
    if ctx.cluster_enabled() && n != 0 {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    if n < 0 || n as usize >= ctx.store().db_count() {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.client.db = n as usize;
    ctx.client.handle.meta.lock().db = n as usize;
    ctx.out.ok();
    Ok(())
}

fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// CLIENT SETNAME name
pub fn client_setname(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    validate_name(&args[2])?;
    ctx.client.handle.meta.lock().name = String::from_utf8_lossy(&args[2]).into_owned();
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETNAME
pub fn client_getname(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let name = ctx.client.handle.meta.lock().name.clone();
    if name.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// CLIENT ID
pub fn client_id(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

/// CLIENT INFO
pub fn client_info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    note_running(ctx, "client|info");
    let line = format!("{}\n", ctx.client.handle.describe(ctx.now_ms));
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

/// Redis records the running command (and db) before executing it, so a
/// client's own CLIENT INFO/LIST line shows them; our connection loop only
/// publishes them per batch.
fn note_running(ctx: &Ctx<'_>, name: &'static str) {
    let mut m = ctx.client.handle.meta.lock();
    m.last_cmd = name;
    m.db = ctx.client.db;
}

/// The TYPE filter of CLIENT LIST/KILL.
#[derive(Clone, Copy)]
enum ClientClass {
    /// Ordinary clients.
    Normal,
    /// RESP2 clients in subscribed mode.
    PubSub,
    /// A replica's link to this primary (flag `S`).
    Replica,
    /// This replica's link to its primary (flag `M`).
    Master,
}

impl ClientClass {
    fn parse(v: &[u8]) -> Result<ClientClass, CmdError> {
        match String::from_utf8_lossy(v).to_ascii_lowercase().as_str() {
            "normal" => Ok(ClientClass::Normal),
            "pubsub" => Ok(ClientClass::PubSub),
            "replica" | "slave" => Ok(ClientClass::Replica),
            "master" => Ok(ClientClass::Master),
            _ => Err(CmdError::err(format!(
                "Unknown client type '{}'",
                String::from_utf8_lossy(v)
            ))),
        }
    }

    fn matches(self, c: &crate::node::clients::ClientHandle) -> bool {
        let m = c.meta.lock();
        let pubsub = m.sub + m.psub > 0 && m.resp < 3;
        let replica = m.flags.contains('S');
        let master = m.flags.contains('M');
        match self {
            ClientClass::Normal => !pubsub && !replica && !master,
            ClientClass::PubSub => pubsub,
            ClientClass::Replica => replica,
            ClientClass::Master => master,
        }
    }
}

/// CLIENT LIST [TYPE type] [ID id ...]
pub fn client_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    note_running(ctx, "client|list");
    let mut ids: Option<Vec<u64>> = None;
    let mut class = None;
    if args.len() > 2 {
        if is(&args[2], "type") && args.len() == 4 {
            class = Some(ClientClass::parse(&args[3])?);
        } else if is(&args[2], "id") && args.len() > 3 {
            let mut v = Vec::new();
            for a in &args[3..] {
                match crate::util::parse_i64(a) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return Err(CmdError::err("Invalid client ID")),
                }
            }
            ids = Some(v);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut text = String::new();
    for c in ctx.shared.clients.all() {
        if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
            continue;
        }
        if class.is_some_and(|k| !k.matches(&c)) {
            continue;
        }
        text.push_str(&c.describe(ctx.now_ms));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// CLIENT KILL addr | CLIENT KILL [ID id] [ADDR a] [LADDR a] [SKIPME yes|no] [TYPE t] [USER u] [MAXAGE s]
pub fn client_kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]).into_owned();
        let victim = ctx
            .shared
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.to_string() == addr);
        return match victim {
            Some(c) => {
                c.kill();
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let (mut id, mut addr, mut laddr, mut maxage) = (None, None, None, None);
    let mut class: Option<ClientClass> = None;
    let mut skipme = true;
    let mut i = 2;
    while i + 1 < args.len() {
        let (o, v) = (&args[i], &args[i + 1]);
        if is(o, "id") {
            id = Some(
                crate::util::parse_i64(v)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?
                    as u64,
            );
        } else if is(o, "addr") {
            addr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(o, "laddr") {
            laddr = Some(String::from_utf8_lossy(v).into_owned());
        } else if is(o, "skipme") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else if is(o, "maxage") {
            maxage = Some(arg_i64(v)?);
        } else if is(o, "type") {
            class = Some(ClientClass::parse(v)?);
        } else if is(o, "user") {
            // Every client is logged in as the only user, `default`.
            if v.as_ref() != b"default" {
                return Err(CmdError::err(format!(
                    "No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut killed = 0;
    for c in ctx.shared.clients.all() {
        let matches = id.is_none_or(|x| x == c.id)
            && addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && laddr.as_ref().is_none_or(|a| *a == c.laddr.to_string())
            && maxage.is_none_or(|m| (ctx.now_ms.saturating_sub(c.created_ms) / 1000) as i64 >= m)
            && class.is_none_or(|k| k.matches(&c))
            && !(skipme && c.id == ctx.client.id());
        if matches {
            if c.id == ctx.client.id() {
                ctx.client.close_after_reply = true;
            } else {
                c.kill();
            }
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// CLIENT NO-EVICT on|off
pub fn client_no_evict(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[2], "on") {
        ctx.client.no_evict = true;
    } else if is(&args[2], "off") {
        ctx.client.no_evict = false;
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.client.handle.meta.lock().no_evict = ctx.client.no_evict;
    ctx.out.ok();
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: client commands (all, or those that may
/// write) wait for `timeout` ms or CLIENT UNPAUSE (`node::pause`).
pub fn client_pause(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let ms = crate::util::parse_i64(&args[2])
        .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let mode = match args.get(3) {
        None => PauseMode::All,
        Some(m) if is(m, "all") => PauseMode::All,
        Some(m) if is(m, "write") => PauseMode::Write,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms as u64);
    ctx.shared.pause.pause(until, mode);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE
pub fn client_unpause(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.shared.pause.unpause();
    ctx.out.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP
pub fn client_reply(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if is(&args[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if is(&args[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if is(&args[2], "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

/// CLIENT SETINFO lib-name|lib-ver value
pub fn client_setinfo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = String::from_utf8_lossy(&args[3]).into_owned();
    if v.contains(' ') || v.contains('\n') {
        return Err(CmdError::err(format!(
            "{} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&args[2]).to_ascii_lowercase()
        )));
    }
    let mut m = ctx.client.handle.meta.lock();
    if is(&args[2], "lib-name") {
        m.lib_name = v;
    } else if is(&args[2], "lib-ver") {
        m.lib_ver = v;
    } else {
        drop(m);
        return Err(CmdError::err(format!(
            "Unrecognized option '{}'",
            String::from_utf8_lossy(&args[2])
        )));
    }
    drop(m);
    ctx.out.ok();
    Ok(())
}

/// CLIENT HELP
pub fn client_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::ctx::help_reply(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]
pub fn client_unblock(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let error = match args.get(3) {
        None => false,
        Some(r) if is(r, "timeout") => false,
        Some(r) if is(r, "error") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let id = arg_i64(&args[2])?;
    let done = u64::try_from(id).is_ok_and(|id| ctx.shared.blocking.unblock(id, error));
    ctx.out.int(done as i64);
    Ok(())
}
