//! Stream commands on entries: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM,
//! XSETID and XINFO, plus the ID parsing and entry replies the other stream
//! files share. Reads (XREAD, XREADGROUP) are `cmd/stream_read.rs`, consumer
//! groups `cmd/stream_group.rs`; the value itself is `store::stream`.

use bytes::Bytes;

use super::ctx::{arg_i64, help_reply, is, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::store::notify::STREAM;
use crate::store::stream::{AppendError, Stream, StreamEntry, StreamId, Trim};
use crate::store::{Entry, Key, Locked, Value};

/// The error of any malformed ID.
pub(crate) fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

/// Redis' `string2ull`: a decimal unsigned 64-bit number, leading blanks
/// and a `+` allowed as `strtoull` does; negative numbers refused.
fn parse_u64(b: &[u8]) -> Option<u64> {
    let mut s = b;
    while let Some((c, rest)) = s.split_first() {
        if matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            s = rest;
        } else {
            break;
        }
    }
    if let Some(rest) = s.strip_prefix(b"+") {
        s = rest;
    }
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Redis' `streamGenericParseIDOrReply`: `<ms>[-<seq>]` (a missing sequence
/// is `missing_seq`), `-` and `+` unless `strict`, and with `auto_seq` the
/// `<ms>-*` form. Returns the ID and whether its sequence was given.
fn parse_id_generic(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    auto_seq: bool,
) -> Result<(StreamId, bool), CmdError> {
    if b.len() > 127 || (strict && (b == b"-" || b == b"+")) {
        return Err(invalid_id());
    }
    match b {
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms_part, seq_part) = match memchr::memchr(b'-', b) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let ms = parse_u64(ms_part).ok_or_else(invalid_id)?;
    let (seq, given) = match seq_part {
        Some(b"*") if auto_seq => (0, false),
        Some(s) => (parse_u64(s).ok_or_else(invalid_id)?, true),
        None => (missing_seq, true),
    };
    Ok((StreamId { ms, seq }, given))
}

/// An ID that may not be `-` or `+`.
pub(crate) fn parse_strict_id(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_generic(b, missing_seq, true, false).map(|(id, _)| id)
}

/// An ID where `-` and `+` mean the smallest and largest.
pub(crate) fn parse_id(b: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id_generic(b, missing_seq, false, false).map(|(id, _)| id)
}

/// The start of an interval; `(` excludes the ID.
pub(crate) fn parse_range_start(b: &[u8]) -> Result<StreamId, CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        return parse_strict_id(&b[1..], 0)?
            .next()
            .ok_or_else(|| CmdError::err("invalid start ID for the interval"));
    }
    parse_id(b, 0)
}

/// The end of an interval; `(` excludes the ID.
pub(crate) fn parse_range_end(b: &[u8]) -> Result<StreamId, CmdError> {
    if b.len() > 1 && b[0] == b'(' {
        return parse_strict_id(&b[1..], u64::MAX)?
            .prev()
            .ok_or_else(|| CmdError::err("invalid end ID for the interval"));
    }
    parse_id(b, u64::MAX)
}

/// An ID as a bulk string.
pub(crate) fn reply_id(out: &mut Reply, id: StreamId) {
    out.bulk(&id.to_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
pub(crate) fn reply_entry(out: &mut Reply, e: &StreamEntry<'_>) {
    out.array_len(2);
    reply_id(out, e.id);
    out.array_len(e.fields.len() * 2);
    for (f, v) in &e.fields {
        out.bulk(f);
        out.bulk(v);
    }
}

/// An array of entries.
pub(crate) fn reply_entries(out: &mut Reply, es: &[StreamEntry<'_>]) {
    out.array_len(es.len());
    for e in es {
        reply_entry(out, e);
    }
}

/// The stream at `key` opened for a write (None when missing), WRONGTYPE
/// for other types. The caller signals a real change with `signal_modified`.
pub(crate) fn stream_mut<'l>(
    slot: &'l mut Locked<'_>,
    key: &Key<'_>,
) -> Result<Option<&'l mut Stream>, CmdError> {
    match slot.get_mut_quiet(key) {
        Some(e) => match e.value_mut() {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(CmdError::WrongType),
        },
        None => Ok(None),
    }
}

/// The stream at `key` for a read (hit/miss counted, access stamped).
pub(crate) fn stream_ref<'l>(
    ctx: &Ctx<'_>,
    slot: &'l mut Locked<'_>,
    key: &Key<'_>,
) -> Result<Option<&'l Stream>, CmdError> {
    let now = ctx.now_ms;
    let found = slot.get_access(key);
    ctx.hit(found.is_some(), key.bytes);
    let Some(e) = found else { return Ok(None) };
    e.touch_access(now);
    let e: &'l Entry = e;
    match e.value() {
        Value::Stream(s) => Ok(Some(s)),
        _ => Err(CmdError::WrongType),
    }
}

/// Parsed XADD/XTRIM options (Redis' `streamParseAddOrTrimArgsOrReply`).
struct AddTrim {
    trim: Option<Trim>,
    approx: bool,
    /// Most entries one trim removes (0: no limit).
    limit: u64,
    nomkstream: bool,
    /// XADD's explicit ID and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// Position of the ID (XADD) or past the options.
    next: usize,
}

fn parse_add_trim(args: &[Bytes], xadd: bool) -> Result<AddTrim, CmdError> {
    let mut p = AddTrim {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
        next: 2,
    };
    let mut limit_given = false;
    let both = "syntax error, MAXLEN and MINID options at the same time are not compatible";
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if p.trim.is_some() {
                return Err(CmdError::err(both));
            }
            p.approx = false;
            let next = &args[i + 1][..];
            if more >= 2 && next == b"~" {
                p.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let arg = &args[i + 1];
            p.trim = Some(if is(opt, "maxlen") {
                let n = arg_i64(arg)?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_strict_id(arg, 0)?)
            });
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            p.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            p.nomkstream = true;
        } else if xadd {
            p.id = Some(parse_id_generic(opt, 0, true, true)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    p.next = i;
    if p.limit != 0 && p.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && p.trim.is_none() {
        return Err(CmdError::err(
            "syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !p.approx {
            return Err(CmdError::err(
                "syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if p.approx {
        // 100 × stream-node-max-entries.
        p.limit = 10_000;
    }
    Ok(p)
}

/// The ID XADD gives a new entry after `last` (Redis' `streamAppendItem`
/// rules): explicit, `<ms>-*`, or generated from the clock.
fn next_id(
    last: StreamId,
    given: Option<(StreamId, bool)>,
    now: u64,
) -> Result<StreamId, CmdError> {
    let top = || {
        CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match given {
        Some((id, true)) => id,
        Some((id, false)) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                // Redis 7.0 reports this overflow with the size error.
                return Err(CmdError::err("Elements are too large to be stored"));
            }
            StreamId {
                ms: last.ms,
                seq: last.seq + 1,
            }
        }
        Some((id, false)) => id,
        None if now > last.ms => StreamId { ms: now, seq: 0 },
        None => last.next().unwrap_or(StreamId::MIN),
    };
    if id <= last {
        return Err(top());
    }
    Ok(id)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
pub fn xadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = parse_add_trim(args, true)?;
    let first_field = p.next + 1;
    if args.len() < first_field + 2 || (args.len() - first_field) % 2 == 1 {
        return Err(CmdError::Arity("xadd".into()));
    }
    if let Some((id, true)) = p.id {
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
    }
    let fields: Vec<(&[u8], &[u8])> = args[first_field..]
        .chunks_exact(2)
        .map(|c| (&c[0][..], &c[1][..]))
        .collect();
    let key = ctx.key(&args[1]);
    let lru = ctx.lru_stamp();
    let now = ctx.now_ms;
    let mut slot = ctx.lock(&key);
    let (id, created, trimmed) = match stream_mut(&mut slot, &key)? {
        Some(s) => {
            if s.last_id == StreamId::MAX {
                return Err(CmdError::err(
                    "The stream has exhausted the last possible ID, unable to add more items",
                ));
            }
            let id = next_id(s.last_id, p.id, now)?;
            append(s, id, &fields)?;
            let trimmed = p.trim.map_or(0, |t| s.trim(t, p.approx, p.limit));
            (id, None, trimmed)
        }
        None if p.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => {
            let mut s = Stream::default();
            let id = next_id(s.last_id, p.id, now)?;
            append(&mut s, id, &fields)?;
            let trimmed = p.trim.map_or(0, |t| s.trim(t, p.approx, p.limit));
            (id, Some(s), trimmed)
        }
    };
    match created {
        Some(s) => {
            slot.set(&key, Value::Stream(Box::new(s)), false, lru);
        }
        None => slot.signal_modified(&key),
    }
    slot.notify(STREAM, "xadd", key.bytes);
    if trimmed > 0 {
        slot.notify(STREAM, "xtrim", key.bytes);
    }
    drop(slot);
    reply_id(ctx.out, id);
    Ok(())
}

fn append(s: &mut Stream, id: StreamId, fields: &[(&[u8], &[u8])]) -> CmdResult {
    s.append(id, fields).map_err(|e| match e {
        AppendError::IdTooSmall => CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        ),
        AppendError::TooLarge => CmdError::err("Elements are too large to be stored"),
    })
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = parse_add_trim(args, false)?;
    let Some(trim) = p.trim else {
        return Err(CmdError::Syntax);
    };
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let deleted = match stream_mut(&mut slot, &key)? {
        Some(s) => s.trim(trim, p.approx, p.limit),
        None => 0,
    };
    if deleted > 0 {
        slot.signal_modified(&key);
        slot.notify(STREAM, "xtrim", key.bytes);
    }
    drop(slot);
    ctx.out.int(deleted as i64);
    Ok(())
}

/// XLEN key
pub fn xlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let n = stream_ref(ctx, &mut slot, &key)?.map_or(0, Stream::len);
    drop(slot);
    ctx.out.int(n as i64);
    Ok(())
}

fn range_cmd(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let start = parse_range_start(start_arg)?;
    let end = parse_range_end(end_arg)?;
    let mut count: Option<usize> = None;
    let mut j = 4;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            count = Some(arg_i64(&args[j + 1])?.max(0) as usize);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let Some(s) = stream_ref(ctx, &mut slot, &key)? else {
        drop(slot);
        ctx.out.array_len(0);
        return Ok(());
    };
    if count == Some(0) {
        ctx.out.null_array();
        return Ok(());
    }
    let es = s.collect(start, end, rev, count.unwrap_or(0));
    reply_entries(ctx.out, &es);
    Ok(())
}

/// XRANGE key start end [COUNT count]
pub fn xrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_cmd(ctx, args, false)
}

/// XREVRANGE key end start [COUNT count]
pub fn xrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    range_cmd(ctx, args, true)
}

/// XDEL key id [id ...]
pub fn xdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let Some(s) = stream_mut(&mut slot, &key)? else {
        drop(slot);
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args[2..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let n = s.delete(&ids);
    if n > 0 {
        slot.signal_modified(&key);
        slot.notify(STREAM, "xdel", key.bytes);
    }
    drop(slot);
    ctx.out.int(n as i64);
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let id = parse_strict_id(&args[2], 0)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "entriesadded") && more {
            let n = arg_i64(&args[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&args[i], "maxdeletedid") && more {
            max_deleted = parse_strict_id(&args[i + 1], 0)?;
            if id < max_deleted {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let s = stream_mut(&mut slot, &key)?.ok_or(CmdError::NoSuchKey)?;
    if !s.is_empty() {
        if id < s.last_valid_id() {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.max_deleted = max_deleted;
    }
    slot.signal_modified(&key);
    slot.notify(STREAM, "xsetid", key.bytes);
    drop(slot);
    ctx.out.ok();
    Ok(())
}

/// A group's lag, or null when it cannot be known.
fn reply_lag(out: &mut Reply, s: &Stream, g: &crate::store::stream::Group) {
    match s.lag(g) {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut Reply, g: &crate::store::stream::Group) {
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

/// The stream at `args[2]` for XINFO (`ERR no such key` when missing).
fn xinfo_stream_at<'l>(
    ctx: &Ctx<'_>,
    slot: &'l mut Locked<'_>,
    key: &Key<'_>,
) -> Result<&'l Stream, CmdError> {
    stream_ref(ctx, slot, key)?.ok_or(CmdError::NoSuchKey)
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn xinfo_stream(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[2]);
    let mut slot = ctx.lock(&key);
    let s = xinfo_stream_at(ctx, &mut slot, &key)?;
    let opts = &args[3..];
    let syntax = || {
        CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(&args[1])
        ))
    };
    let full = !opts.is_empty();
    let mut count = 10usize;
    if full {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return Err(syntax());
        }
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return Err(syntax());
            }
            let n = arg_i64(&opts[2])?;
            count = if n < 0 { 10 } else { n as usize };
        }
    }
    let out = &mut *ctx.out;
    out.map_len(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.chunk_count() as i64);
    // Redis counts the nodes of its radix tree; the chunk map has one node per chunk.
    out.bulk(b"radix-tree-nodes");
    out.int(s.chunk_count() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (name, last) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(name);
            match s.collect(StreamId::MIN, StreamId::MAX, last, 1).first() {
                Some(e) => reply_entry(out, e),
                None => out.null(),
            }
        }
        return Ok(());
    }
    out.bulk(b"entries");
    reply_entries(out, &s.collect(StreamId::MIN, StreamId::MAX, false, count));
    out.bulk(b"groups");
    out.array_len(s.groups.len());
    let cap = |n: usize| if count == 0 { n } else { n.min(count) };
    for (name, g) in &s.groups {
        out.map_len(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        out.array_len(cap(g.pel.len()));
        for (id, p) in g.pel.iter().take(cap(g.pel.len())) {
            out.array_len(4);
            reply_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time as i64);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array_len(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map_len(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            out.array_len(cap(c.pel.len()));
            for id in c.pel.iter().take(cap(c.pel.len())) {
                let (time, n) = g
                    .pel
                    .get(id)
                    .map_or((0, 0), |p| (p.delivery_time, p.delivery_count));
                out.array_len(3);
                reply_id(out, *id);
                out.int(time as i64);
                out.int(n as i64);
            }
        }
    }
    Ok(())
}

/// XINFO GROUPS key
pub fn xinfo_groups(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[2]);
    let mut slot = ctx.lock(&key);
    let s = xinfo_stream_at(ctx, &mut slot, &key)?;
    let out = &mut *ctx.out;
    out.array_len(s.groups.len());
    for (name, g) in &s.groups {
        out.map_len(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
    Ok(())
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[2]);
    let now = ctx.now_ms;
    let mut slot = ctx.lock(&key);
    let s = xinfo_stream_at(ctx, &mut slot, &key)?;
    let g = s.groups.get(&args[3][..]).ok_or_else(|| {
        CmdError::Other(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(&args[3]),
            String::from_utf8_lossy(&args[2])
        ))
    })?;
    let out = &mut *ctx.out;
    out.array_len(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map_len(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(c.seen_time) as i64);
    }
    Ok(())
}

/// XINFO HELP
pub fn xinfo_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_id(b"5", 7), Ok(id(5, 7)));
        assert_eq!(parse_id(b"-", 7), Ok(StreamId::MIN));
        assert_eq!(parse_id(b"+", 0), Ok(StreamId::MAX));
        assert_eq!(parse_strict_id(b"+", 0), Err(invalid_id()));
        assert_eq!(parse_id(b"18446744073709551615-1", 0), Ok(id(u64::MAX, 1)));
        assert_eq!(parse_id(b"18446744073709551616", 0), Err(invalid_id()));
        assert_eq!(parse_id(b"1-x", 0), Err(invalid_id()));
        assert_eq!(parse_id(b"-1", 0), Err(invalid_id()));
        assert_eq!(
            parse_id_generic(b"3-*", 0, true, true),
            Ok((id(3, 0), false))
        );
        assert_eq!(parse_id(b"3-*", 0), Err(invalid_id()));
        assert_eq!(parse_range_start(b"(1-5"), Ok(id(1, 6)));
        assert_eq!(parse_range_end(b"(2"), Ok(id(2, u64::MAX - 1)));
        assert_eq!(parse_range_end(b"(2-0"), Ok(id(1, u64::MAX)));
        assert_eq!(
            parse_range_end(b"(0-0"),
            Err(CmdError::err("invalid end ID for the interval"))
        );
    }

    #[test]
    fn generated_ids_follow_the_clock_and_the_top() {
        assert_eq!(next_id(id(5, 3), None, 9), Ok(id(9, 0)));
        assert_eq!(next_id(id(9, 3), None, 5), Ok(id(9, 4)));
        assert_eq!(next_id(id(9, 3), Some((id(9, 0), false)), 0), Ok(id(9, 4)));
        assert_eq!(
            next_id(id(9, 3), Some((id(10, 0), false)), 0),
            Ok(id(10, 0))
        );
        assert!(next_id(id(9, 3), Some((id(9, 3), true)), 0).is_err());
    }
}
