//! Sans-I/O parser for memcached's text and meta protocols.
//!
//! `parse` looks at the connection's read buffer and returns one request (with
//! the bytes it consumed), `NeedMore`, or `Close`. It reproduces memcached
//! 1.6's tokenizer (`tokenize_command`, 24-token cap), its C number parsing
//! (`safe_strtoul`/`safe_strtol`/`safe_strtoull` over `strtoul`), and the exact
//! error text of each malformed line, so replies match memcached byte for byte.

/// memcached's longest key.
pub const KEY_MAX: usize = 250;
/// memcached's `MAX_TOKENS` (the terminal token included).
const MAX_TOKENS: usize = 24;
/// memcached's limit on meta command tokens.
const MFLAG_MAX_OPT: usize = 20;
/// Longest opaque (`O`) token.
pub const MAX_OPAQUE: usize = 32;
/// Item header bytes memcached counts against the item size limit (48-byte
/// item header, 8-byte CAS, key NUL).
pub const ITEM_OVERHEAD: usize = 48 + 8 + 1;
/// A line without newline longer than this closes the connection (unless it
/// is a multi-get), as in memcached.
const MAX_PARTIAL_LINE: usize = 2048;

/// Limits the memcached request parser enforces.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Largest item (`-I`), header included.
    pub item_size_max: usize,
    /// Longest request line kept waiting for its newline (multi-gets).
    pub max_line: usize,
}

/// Result of one parse step.
#[derive(Debug)]
pub enum McParsed<'a> {
    /// No complete request buffered yet.
    NeedMore,
    /// Junk without newline: memcached closes such connections.
    Close,
    /// One request and the number of bytes it consumed.
    Request(Request<'a>, usize),
}

/// The words of `line`, separated by runs of spaces (found with memchr:
/// keys are often long).
fn words(line: &[u8]) -> Words<'_> {
    Words(line)
}

/// Iterator of [`words`]: the part of the line not yet split.
struct Words<'a>(&'a [u8]);

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = self.0;
            if rest.is_empty() {
                return None;
            }
            let (w, after) = match memchr::memchr(b' ', rest) {
                Some(end) => (&rest[..end], &rest[end + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            self.0 = after;
            if !w.is_empty() {
                return Some(w);
            }
        }
    }
}

/// The tokens of one line, split on spaces like memcached's tokenizer.
#[derive(Clone, Copy, Debug)]
pub struct Tokens<'a> {
    toks: [&'a [u8]; MAX_TOKENS],
    n: usize,
    line: &'a [u8],
}

impl<'a> Tokens<'a> {
    /// Splits `line` (already cut at its first NUL, as `strlen` would).
    pub fn split(line: &'a [u8]) -> Self {
        let mut t = Tokens {
            toks: [&[][..]; MAX_TOKENS],
            n: 0,
            line,
        };
        for w in words(line) {
            t.toks[t.n] = w;
            t.n += 1;
            if t.n == MAX_TOKENS - 1 {
                break;
            }
        }
        t
    }

    /// memcached's `ntokens`: real tokens plus the terminal one.
    pub fn ntokens(&self) -> usize {
        self.n + 1
    }

    /// Token `i`, empty past the end (memcached's terminal token).
    pub fn get(&self, i: usize) -> &'a [u8] {
        if i < self.n {
            self.toks[i]
        } else {
            &[]
        }
    }

    /// Tokens from `i` on.
    pub fn from(&self, i: usize) -> &[&'a [u8]] {
        &self.toks[i.min(self.n)..self.n]
    }

    /// The line from token `i` to its end, the unsplit remainder included
    /// (multi-gets are not bounded by the token cap).
    pub fn tail(&self, i: usize) -> &'a [u8] {
        match self.from(i).first() {
            // Tokens are sub-slices of `line`: their offset is a pointer difference.
            Some(tok) => &self.line[tok.as_ptr() as usize - self.line.as_ptr() as usize..],
            None => &[],
        }
    }

    /// True when memcached's `set_noreply_maybe` would set noreply.
    fn noreply(&self) -> bool {
        self.n >= 1 && self.toks[self.n - 1] == b"noreply"
    }
}

/// Classic storage modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// `set`
    Set,
    /// `add`
    Add,
    /// `replace`
    Replace,
    /// `append`
    Append,
    /// `prepend`
    Prepend,
    /// `cas`
    Cas,
}

/// A storage request with its data block.
#[derive(Debug)]
pub struct StorageRequest<'a> {
    /// Mode.
    pub mode: StoreMode,
    /// Key.
    pub key: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Raw exptime argument.
    pub exptime: i32,
    /// Compare value for `cas`.
    pub cas: u64,
    /// The data block (without its `\r\n`).
    pub data: &'a [u8],
    /// Suppress the reply.
    pub noreply: bool,
}

/// Meta-command flags, as memcached's `_meta_flag_preparse` reads them.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetaFlags {
    /// `v`: return the value.
    pub value: bool,
    /// `q`: quiet mode.
    pub quiet: bool,
    /// `C<cas>`: compare CAS.
    pub cas: Option<u64>,
    /// `T<ttl>`: new TTL.
    pub ttl: Option<i32>,
    /// `N<ttl>`: vivify on miss with this TTL.
    pub vivify: Option<i32>,
    /// `F<flags>`: client flags.
    pub client_flags: u32,
    /// `M<mode>`.
    pub mode: Option<u8>,
    /// `D<delta>` (ma), default 1.
    pub delta: u64,
    /// `J<initial>` (ma).
    pub initial: u64,
    /// `E<cas>`: explicit CAS unique for the new version (memcached 1.6.21+;
    /// 1.6.18 answers `CLIENT_ERROR invalid flag`).
    pub explicit_cas: Option<u64>,
    /// `I`: invalidate (mark stale) instead of delete / store-if-older.
    pub invalidate: bool,
    /// `b`: key is base64.
    pub binary: bool,
    /// `u`: don't bump LRU.
    pub no_update: bool,
}

/// A meta command: key (decoded), flags, and the raw flag tokens in request
/// order (the reply echoes flags in that order).
#[derive(Debug)]
pub struct Meta<'a> {
    /// The key (base64-decoded with `b`).
    pub key: std::borrow::Cow<'a, [u8]>,
    /// McParsed flags.
    pub flags: MetaFlags,
    /// The line from the first flag on (re-split on demand: keeps requests small).
    flag_line: &'a [u8],
}

impl<'a> Meta<'a> {
    /// The flag tokens in request order.
    pub fn flag_tokens(&self) -> impl Iterator<Item = &'a [u8]> {
        words(self.flag_line)
    }
}

/// One parsed request.
#[derive(Debug)]
pub enum Request<'a> {
    /// A reply decided while parsing (an error); skipped when `noreply`.
    Reply {
        /// The line, without `\r\n`.
        text: &'static str,
        /// Suppress it.
        noreply: bool,
    },
    /// get/gets/gat/gats: `keys` is the space-separated key list.
    Get {
        /// The rest of the line holding the keys.
        keys: KeyList<'a>,
        /// Return CAS uniques.
        cas: bool,
        /// gat/gats exptime.
        touch: Option<i32>,
    },
    /// set/add/replace/append/prepend/cas.
    Store(StorageRequest<'a>),
    /// A storage request over the item size limit: reply, maybe delete the
    /// key, and swallow `swallow` bytes of data.
    TooLarge {
        /// The key.
        key: std::borrow::Cow<'a, [u8]>,
        /// `set` (or `ms`) deletes the old value, like memcached.
        delete: bool,
        /// Suppress the reply.
        noreply: bool,
        /// Data bytes to discard (data + `\r\n`).
        swallow: usize,
    },
    /// An error reply followed by discarding a data block (bad `ms` line).
    SwallowError {
        /// The error line.
        text: &'static str,
        /// Data bytes to discard.
        swallow: usize,
    },
    /// incr/decr.
    Arith {
        /// Key.
        key: &'a [u8],
        /// Delta.
        delta: u64,
        /// incr (true) or decr.
        incr: bool,
        /// Suppress the reply.
        noreply: bool,
    },
    /// touch.
    Touch {
        /// Key.
        key: &'a [u8],
        /// Raw exptime.
        exptime: i32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// delete.
    Delete {
        /// Key.
        key: &'a [u8],
        /// Suppress the reply.
        noreply: bool,
    },
    /// flush_all [delay].
    FlushAll {
        /// Delay in seconds (memcached exptime rules).
        delay: i32,
        /// Suppress the reply.
        noreply: bool,
    },
    /// stats [sub].
    Stats(&'a [u8]),
    /// version.
    Version,
    /// verbosity.
    Verbosity {
        /// Suppress the reply.
        noreply: bool,
    },
    /// quit.
    Quit,
    /// mg.
    MetaGet(Meta<'a>),
    /// ms with its data block.
    MetaSet(Meta<'a>, &'a [u8]),
    /// md.
    MetaDelete(Meta<'a>),
    /// ma.
    MetaArith(Meta<'a>),
    /// me.
    MetaDebug(std::borrow::Cow<'a, [u8]>),
    /// mn.
    MetaNoop,
}

impl Request<'_> {
    /// True for requests that may change data (refused on a read-only
    /// replica, whose data only its primary changes).
    pub fn writes(&self) -> bool {
        match self {
            Request::Store(_)
            | Request::Arith { .. }
            | Request::Touch { .. }
            | Request::Delete { .. }
            | Request::FlushAll { .. }
            | Request::MetaSet(..)
            | Request::MetaDelete(_)
            | Request::MetaArith(_) => true,
            Request::TooLarge { delete, .. } => *delete,
            Request::Get { touch, .. } => touch.is_some(),
            _ => false,
        }
    }
}

/// The keys of a get line, iterated lazily (multi-gets are unbounded).
#[derive(Clone, Copy, Debug)]
pub struct KeyList<'a>(&'a [u8]);

impl<'a> KeyList<'a> {
    /// The keys in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> {
        words(self.0)
    }
}

fn reply(text: &'static str, noreply: bool) -> Request<'static> {
    Request::Reply { text, noreply }
}

const ERROR: &str = "ERROR";
const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";

/// Parses one request from `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: RequestLimits) -> McParsed<'a> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_PARTIAL_LINE {
            let spaces = buf.iter().take_while(|&&b| b == b' ').count();
            let rest = &buf[spaces..];
            let multiget = rest.starts_with(b"get ") || rest.starts_with(b"gets ");
            if spaces > 100 || !multiget || buf.len() > limits.max_line {
                return McParsed::Close;
            }
        }
        return McParsed::NeedMore;
    };
    let mut line = &buf[..nl];
    if line.len() > 1 && line[line.len() - 1] == b'\r' {
        line = &line[..line.len() - 1];
    }
    if let Some(z) = memchr::memchr(0, line) {
        line = &line[..z];
    }
    let consumed = nl + 1;
    let t = Tokens::split(line);
    match command(&t, &buf[consumed..], limits) {
        Step::Done(r) => McParsed::Request(r, consumed),
        Step::Data(r, n) => McParsed::Request(r, consumed + n),
        Step::NeedMore => McParsed::NeedMore,
    }
}

enum Step<'a> {
    Done(Request<'a>),
    Data(Request<'a>, usize),
    NeedMore,
}

fn done(r: Request<'_>) -> Step<'_> {
    Step::Done(r)
}

fn command<'a>(t: &Tokens<'a>, after: &'a [u8], limits: RequestLimits) -> Step<'a> {
    let nt = t.ntokens();
    let cmd = t.get(0);
    if nt < 2 || cmd.len() < 2 {
        return done(reply(ERROR, false));
    }
    if cmd[0] == b'm' && cmd.len() == 2 {
        return match cmd[1] {
            b'g' => done(meta_get(t)),
            b's' => meta_set(t, after, limits),
            b'n' => done(Request::MetaNoop),
            b'd' => done(meta_simple(t, Request::MetaDelete)),
            b'a' => done(meta_simple(t, Request::MetaArith)),
            b'e' => done(meta_debug(t)),
            _ => done(reply(ERROR, false)),
        };
    }
    let want = |ok: bool, r: Request<'a>| if ok { r } else { reply(ERROR, false) };
    match cmd {
        b"get" | b"gets" | b"gat" | b"gats" => {
            if nt < 3 {
                return done(reply(ERROR, false));
            }
            done(get(t, cmd))
        }
        b"set" | b"add" | b"replace" | b"append" | b"prepend" => {
            if nt != 6 && nt != 7 {
                return done(reply(ERROR, false));
            }
            let mode = match cmd {
                b"set" => StoreMode::Set,
                b"add" => StoreMode::Add,
                b"replace" => StoreMode::Replace,
                b"append" => StoreMode::Append,
                _ => StoreMode::Prepend,
            };
            update(t, mode, after, limits)
        }
        b"cas" => {
            if nt != 7 && nt != 8 {
                return done(reply(ERROR, false));
            }
            update(t, StoreMode::Cas, after, limits)
        }
        b"incr" | b"decr" => done(want(nt == 4 || nt == 5, arith(t, cmd == b"incr"))),
        b"touch" => done(want(nt == 4 || nt == 5, touch(t))),
        b"delete" => done(want((3..=5).contains(&nt), delete(t))),
        b"flush_all" => done(want((2..=4).contains(&nt), flush_all(t))),
        b"stats" => done(Request::Stats(t.get(1))),
        b"version" => done(Request::Version),
        b"quit" => done(Request::Quit),
        b"verbosity" => done(want(nt == 3 || nt == 4, verbosity(t))),
        _ => done(reply(ERROR, false)),
    }
}

fn get<'a>(t: &Tokens<'a>, cmd: &[u8]) -> Request<'a> {
    let touch = cmd.starts_with(b"gat");
    let cas = cmd.ends_with(b"s");
    let mut first = 1;
    let exptime = if touch {
        first = 2;
        match safe_strtol(t.get(1)) {
            Some(e) => Some(e),
            None => return reply("CLIENT_ERROR invalid exptime argument", false),
        }
    } else {
        None
    };
    let list = KeyList(t.tail(first));
    if list.iter().any(|k| k.len() > KEY_MAX) {
        return reply(BAD_FORMAT, false);
    }
    Request::Get {
        keys: list,
        cas,
        touch: exptime,
    }
}

fn update<'a>(t: &Tokens<'a>, mode: StoreMode, after: &'a [u8], limits: RequestLimits) -> Step<'a> {
    let noreply = t.noreply();
    let Some(key) = key_arg(t) else {
        return done(reply(BAD_FORMAT, noreply));
    };
    let (Some(flags), Some(exptime), Some(vlen)) = (
        safe_strtoul(t.get(2)),
        safe_strtol(t.get(3)),
        safe_strtol(t.get(4)),
    ) else {
        return done(reply(BAD_FORMAT, noreply));
    };
    let mut cas = 0;
    if mode == StoreMode::Cas {
        match safe_strtoull(t.get(5)) {
            Some(c) => cas = c,
            None => return done(reply(BAD_FORMAT, noreply)),
        }
    }
    if !(0..=i32::MAX - 2).contains(&vlen) {
        return done(reply(BAD_FORMAT, noreply));
    }
    let total = vlen as usize + 2;
    if !item_size_ok(key.len(), flags, total, limits) {
        return done(Request::TooLarge {
            key: key.into(),
            delete: mode == StoreMode::Set,
            noreply,
            swallow: total,
        });
    }
    if after.len() < total {
        return Step::NeedMore;
    }
    if &after[total - 2..total] != b"\r\n" {
        return Step::Data(reply("CLIENT_ERROR bad data chunk", noreply), total);
    }
    Step::Data(
        Request::Store(StorageRequest {
            mode,
            key,
            flags,
            exptime,
            cas,
            data: &after[..total - 2],
            noreply,
        }),
        total,
    )
}

/// memcached's `item_size_ok` for an item of `total` data bytes (`\r\n` included).
fn item_size_ok(nkey: usize, flags: u32, total: usize, limits: RequestLimits) -> bool {
    let size = ITEM_OVERHEAD + nkey + total + if flags != 0 { 4 } else { 0 };
    size <= limits.item_size_max
}

/// The key token of a single-key text command; None over 250 bytes
/// (memcached's bad-format error).
fn key_arg<'a>(t: &Tokens<'a>) -> Option<&'a [u8]> {
    Some(t.get(1)).filter(|k| k.len() <= KEY_MAX)
}

fn arith<'a>(t: &Tokens<'a>, incr: bool) -> Request<'a> {
    let noreply = t.noreply();
    let Some(key) = key_arg(t) else {
        return reply(BAD_FORMAT, noreply);
    };
    match safe_strtoull(t.get(2)) {
        Some(delta) => Request::Arith {
            key,
            delta,
            incr,
            noreply,
        },
        None => reply("CLIENT_ERROR invalid numeric delta argument", noreply),
    }
}

fn touch<'a>(t: &Tokens<'a>) -> Request<'a> {
    let noreply = t.noreply();
    let Some(key) = key_arg(t) else {
        return reply(BAD_FORMAT, noreply);
    };
    match safe_strtol(t.get(2)) {
        Some(exptime) => Request::Touch {
            key,
            exptime,
            noreply,
        },
        None => reply("CLIENT_ERROR invalid exptime argument", noreply),
    }
}

fn delete<'a>(t: &Tokens<'a>) -> Request<'a> {
    let nt = t.ntokens();
    let mut noreply = false;
    if nt > 3 {
        let hold_is_zero = t.get(2) == b"0";
        noreply = t.noreply();
        let valid = (nt == 4 && (hold_is_zero || noreply)) || (nt == 5 && hold_is_zero && noreply);
        if !valid {
            return reply(
                "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]",
                noreply,
            );
        }
    }
    let Some(key) = key_arg(t) else {
        return reply(BAD_FORMAT, noreply);
    };
    Request::Delete { key, noreply }
}

fn flush_all<'a>(t: &Tokens<'a>) -> Request<'a> {
    let noreply = t.noreply();
    let nt = t.ntokens();
    let mut delay = 0;
    if nt != if noreply { 3 } else { 2 } {
        match safe_strtol(t.get(1)) {
            Some(d) => delay = d,
            None => return reply("CLIENT_ERROR invalid exptime argument", noreply),
        }
    }
    Request::FlushAll { delay, noreply }
}

fn verbosity<'a>(t: &Tokens<'a>) -> Request<'a> {
    let noreply = t.noreply();
    match safe_strtoul(t.get(1)) {
        Some(_) => Request::Verbosity { noreply },
        None => reply(BAD_FORMAT, noreply),
    }
}

/// memcached's `_meta_flag_preparse`: Err carries the error line.
fn meta_flags<'a>(
    t: &Tokens<'a>,
    start: usize,
) -> Result<(std::borrow::Cow<'a, [u8]>, MetaFlags), &'static str> {
    let mut f = MetaFlags {
        delta: 1,
        ..MetaFlags::default()
    };
    let mut seen = [false; 128];
    let mut key: std::borrow::Cow<'a, [u8]> = t.get(1).into();
    let mut err: Option<&'static str> = None;
    const BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format";
    for tok in t.from(start) {
        let o = tok[0];
        if o >= 127 || seen[o as usize] {
            return Err("CLIENT_ERROR duplicate flag");
        }
        seen[o as usize] = true;
        let arg = &tok[1..];
        match o {
            b'b' => {
                f.binary = true;
                match base64_decode(t.get(1)) {
                    Some(k) => key = k.into(),
                    None => err = Some("CLIENT_ERROR error decoding key"),
                }
            }
            b'N' => match safe_strtol(arg) {
                Some(v) => f.vivify = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'T' => match safe_strtol(arg) {
                Some(v) => f.ttl = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'R' => {
                if safe_strtol(arg).is_none() {
                    err = Some(BAD_TOKEN);
                }
            }
            b'l' | b'O' | b'P' | b'L' | b'k' | b's' | b't' | b'c' | b'f' | b'h' => {}
            b'v' => f.value = true,
            b'u' => f.no_update = true,
            b'q' => f.quiet = true,
            b'F' => match safe_strtoul(arg) {
                Some(v) => f.client_flags = v,
                None => err = Some(BAD_FORMAT),
            },
            b'C' => match safe_strtoull(arg) {
                Some(v) => f.cas = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'E' => match safe_strtoull(arg) {
                Some(v) => f.explicit_cas = Some(v),
                None => err = Some(BAD_TOKEN),
            },
            b'M' => {
                if tok.len() != 2 {
                    err = Some("CLIENT_ERROR incorrect length for M token");
                } else {
                    f.mode = Some(tok[1]);
                }
            }
            b'J' => match safe_strtoull(arg) {
                Some(v) => f.initial = v,
                None => err = Some("CLIENT_ERROR invalid numeric initial value"),
            },
            b'D' => match safe_strtoull(arg) {
                Some(v) => f.delta = v,
                None => err = Some("CLIENT_ERROR invalid numeric delta value"),
            },
            b'I' => f.invalidate = true,
            _ => return Err("CLIENT_ERROR invalid flag"),
        }
    }
    match err {
        Some(e) => Err(e),
        None => Ok((key, f)),
    }
}

/// Checks an `O` token's length (memcached checks it while building replies).
fn opaque_ok(t: &Tokens<'_>, start: usize) -> bool {
    t.from(start)
        .iter()
        .all(|tok| tok[0] != b'O' || tok.len() <= MAX_OPAQUE)
}

fn meta_get<'a>(t: &Tokens<'a>) -> Request<'a> {
    if t.ntokens() < 3 {
        return reply(ERROR, false);
    }
    if t.get(1).len() > KEY_MAX {
        return reply(BAD_FORMAT, false);
    }
    if t.ntokens() > MFLAG_MAX_OPT {
        return reply("CLIENT_ERROR options flags are too long", false);
    }
    match meta_flags(t, 2) {
        Ok(_) if !opaque_ok(t, 2) => reply("CLIENT_ERROR opaque token too long", false),
        Ok((key, flags)) => Request::MetaGet(Meta {
            key,
            flags,
            flag_line: t.tail(2),
        }),
        Err(e) => reply(e, false),
    }
}

fn meta_simple<'a>(t: &Tokens<'a>, make: fn(Meta<'a>) -> Request<'a>) -> Request<'a> {
    if t.ntokens() < 3 {
        return reply(ERROR, false);
    }
    if t.get(1).len() > KEY_MAX {
        return reply(BAD_FORMAT, false);
    }
    if t.ntokens() > MFLAG_MAX_OPT {
        return reply("CLIENT_ERROR options flags too long", false);
    }
    match meta_flags(t, 2) {
        Ok(_) if !opaque_ok(t, 2) => reply("CLIENT_ERROR opaque token too long", false),
        Ok((key, flags)) => make(Meta {
            key,
            flags,
            flag_line: t.tail(2),
        }),
        Err(_) => reply("CLIENT_ERROR invalid or duplicate flag", false),
    }
}

fn meta_set<'a>(t: &Tokens<'a>, after: &'a [u8], limits: RequestLimits) -> Step<'a> {
    let nt = t.ntokens();
    if nt < 3 {
        return done(reply(ERROR, false));
    }
    if t.get(1).len() > KEY_MAX || nt == 3 {
        return done(reply(BAD_FORMAT, false));
    }
    if nt > MFLAG_MAX_OPT {
        return done(reply("CLIENT_ERROR options flags too long", false));
    }
    let vlen = match safe_strtol(t.get(2)) {
        Some(v) if (0..=i32::MAX - 2).contains(&v) => v as usize,
        _ => return done(reply(BAD_FORMAT, false)),
    };
    let total = vlen + 2;
    let fail = |text| {
        done(Request::SwallowError {
            text,
            swallow: total,
        })
    };
    let (key, flags) = match meta_flags(t, 3) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if !opaque_ok(t, 3) {
        return fail("CLIENT_ERROR opaque token too long");
    }
    if !matches!(flags.mode, None | Some(b'E' | b'A' | b'P' | b'R' | b'S')) {
        return fail("CLIENT_ERROR invalid mode for ms M token");
    }
    if !item_size_ok(key.len(), flags.client_flags, total, limits) {
        return done(Request::TooLarge {
            key,
            delete: true,
            noreply: false,
            swallow: total,
        });
    }
    if after.len() < total {
        return Step::NeedMore;
    }
    if &after[total - 2..total] != b"\r\n" {
        return Step::Data(reply("CLIENT_ERROR bad data chunk", false), total);
    }
    let meta = Meta {
        key,
        flags,
        flag_line: t.tail(3),
    };
    Step::Data(Request::MetaSet(meta, &after[..total - 2]), total)
}

fn meta_debug<'a>(t: &Tokens<'a>) -> Request<'a> {
    if t.ntokens() < 3 || t.get(1).len() > KEY_MAX {
        return reply(BAD_FORMAT, false);
    }
    let key = t.get(1);
    if t.ntokens() >= 4 && t.get(2) == b"b" {
        return match base64_decode(key) {
            Some(k) => Request::MetaDebug(k.into()),
            None => reply(BAD_FORMAT, false),
        };
    }
    Request::MetaDebug(key.into())
}

fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `strtoull`/`strtol` front end: whitespace, sign, decimal digits.
/// Returns (negative, magnitude or None on u64 overflow, rest) when at least
/// one digit was read.
fn c_number(s: &[u8]) -> Option<(bool, Option<u64>, &[u8])> {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        neg = s[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut mag: Option<u64> = Some(0);
    while i < s.len() && s[i].is_ascii_digit() {
        mag = mag
            .and_then(|m| m.checked_mul(10))
            .and_then(|m| m.checked_add(u64::from(s[i] - b'0')));
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((neg, mag, &s[i..]))
}

fn valid_end(rest: &[u8]) -> bool {
    rest.first().is_none_or(|&b| b == 0 || is_c_space(b))
}

/// memcached's `safe_strtoull`.
pub fn safe_strtoull(s: &[u8]) -> Option<u64> {
    let (neg, mag, rest) = c_number(s)?;
    let mag = mag?;
    if !valid_end(rest) {
        return None;
    }
    let v = if neg { mag.wrapping_neg() } else { mag };
    if (v as i64) < 0 && s.contains(&b'-') {
        return None;
    }
    Some(v)
}

/// memcached's `safe_strtoul` into a 32-bit field (strtoul is 64-bit, the
/// result is truncated like the C assignment).
pub fn safe_strtoul(s: &[u8]) -> Option<u32> {
    safe_strtoull(s).map(|v| v as u32)
}

/// memcached's `safe_strtol` into an `int32_t`.
pub fn safe_strtol(s: &[u8]) -> Option<i32> {
    let (neg, mag, rest) = c_number(s)?;
    let mag = mag?;
    let v: i64 = if neg {
        if mag > 1 << 63 {
            return None;
        }
        (mag as i64).wrapping_neg()
    } else {
        i64::try_from(mag).ok()?
    };
    if v > i64::from(i32::MAX) || !valid_end(rest) {
        return None;
    }
    Some(v as i32)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding; None on malformed input or empty output.
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let chunks = s.len() / 4;
    for (ci, ch) in s.chunks(4).enumerate() {
        let pad = ch.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && ci + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &ch[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    (!out.is_empty()).then_some(out)
}

/// Standard base64 with padding.
pub fn base64_encode(s: &[u8], out: &mut Vec<u8>) {
    for ch in s.chunks(3) {
        let n = (u32::from(ch[0]) << 16)
            | (u32::from(*ch.get(1).unwrap_or(&0)) << 8)
            | u32::from(*ch.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= ch.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: RequestLimits = RequestLimits {
        item_size_max: 1024 * 1024,
        max_line: 1 << 20,
    };

    /// Parses everything in `buf` like the connection loop (swallows included).
    fn drain(mut buf: &[u8]) {
        for _ in 0..10_000 {
            match parse(buf, LIMITS) {
                McParsed::NeedMore | McParsed::Close => return,
                McParsed::Request(req, n) => {
                    assert!(n > 0 && n <= buf.len());
                    let skip = match req {
                        Request::TooLarge { swallow, .. }
                        | Request::SwallowError { swallow, .. } => swallow,
                        _ => 0,
                    };
                    buf = &buf[(n + skip).min(buf.len())..];
                }
            }
        }
    }

    #[test]
    fn numbers_follow_c_rules() {
        assert_eq!(safe_strtoul(b"4294967296"), Some(0));
        assert_eq!(safe_strtoul(b"-1"), None);
        assert_eq!(safe_strtoul(b"-0"), Some(0));
        assert_eq!(safe_strtoul(b"+5"), Some(5));
        assert_eq!(safe_strtol(b"2147483648"), None);
        assert_eq!(safe_strtol(b"-1"), Some(-1));
        assert_eq!(safe_strtol(b"1x"), None);
        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"99 "), Some(99));
        assert_eq!(safe_strtoull(b""), None);
    }

    #[test]
    fn base64_roundtrip() {
        for s in [&b"a"[..], b"ab", b"abc", b"binary\x00\xff"] {
            let mut e = Vec::new();
            base64_encode(s, &mut e);
            assert_eq!(base64_decode(&e).as_deref(), Some(s));
        }
        assert_eq!(base64_decode(b"###"), None);
    }

    #[test]
    fn get_keys_beyond_the_token_cap() {
        let mut line = b"get".to_vec();
        for i in 0..40 {
            line.extend_from_slice(format!(" k{i}").as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        match parse(&line, LIMITS) {
            McParsed::Request(Request::Get { keys, .. }, n) => {
                assert_eq!(n, line.len());
                assert_eq!(keys.iter().count(), 40);
            }
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn words_split_like_memcached(line in proptest::collection::vec(
            proptest::sample::select(vec![b' ', b'a', b'b']), 0..64)
        ) {
            let want: Vec<&[u8]> = line.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
            prop_assert_eq!(words(&line).collect::<Vec<_>>(), want);
        }
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0x21u8..0x7f, 1..=250)
    }

    proptest! {
        #[test]
        fn random_input_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..4096)) {
            drain(&buf);
        }

        #[test]
        fn mutated_commands_never_panic(
            idx in 0usize..8,
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 0..6),
        ) {
            let base: [&[u8]; 8] = [
                b"set k 1 0 3\r\nabc\r\n",
                b"cas k 1 0 3 99 noreply\r\nabc\r\n",
                b"get a b c\r\n",
                b"gat 10 a b\r\n",
                b"ms k 2 T10 F3 c k O9 MA\r\nhi\r\n",
                b"mg k v f t c k s O1 h l q\r\n",
                b"ma k N0 J5 D2 MD v t c\r\n",
                b"md k q C5 I T30 k\r\n",
            ];
            let mut buf = base[idx].to_vec();
            for (pos, b) in flips {
                let p = pos % buf.len();
                buf[p] = b;
            }
            drain(&buf);
        }

        #[test]
        fn valid_set_roundtrips(
            k in key(),
            flags in any::<u32>(),
            exptime in -100i32..100_000,
            data in proptest::collection::vec(any::<u8>(), 0..512),
            noreply in any::<bool>(),
        ) {
            let mut buf = b"set ".to_vec();
            buf.extend_from_slice(&k);
            buf.extend_from_slice(format!(" {flags} {exptime} {}", data.len()).as_bytes());
            if noreply {
                buf.extend_from_slice(b" noreply");
            }
            buf.extend_from_slice(b"\r\n");
            buf.extend_from_slice(&data);
            buf.extend_from_slice(b"\r\n");
            // Every strict prefix asks for more input.
            for cut in [0, 1, buf.len() / 2, buf.len() - 1] {
                prop_assert!(matches!(parse(&buf[..cut], LIMITS), McParsed::NeedMore));
            }
            match parse(&buf, LIMITS) {
                McParsed::Request(Request::Store(s), n) => {
                    prop_assert_eq!(n, buf.len());
                    prop_assert_eq!(s.key, &k[..]);
                    prop_assert_eq!(s.flags, flags);
                    prop_assert_eq!(s.exptime, exptime);
                    prop_assert_eq!(s.data, &data[..]);
                    prop_assert_eq!(s.noreply, noreply);
                    prop_assert_eq!(s.mode, StoreMode::Set);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn valid_meta_get_roundtrips(k in key(), opaque in 0u32..1_000_000) {
            let line = [b"mg ".to_vec(), k.clone(), format!(" v c O{opaque} k\r\n").into_bytes()].concat();
            match parse(&line, LIMITS) {
                McParsed::Request(Request::MetaGet(m), n) => {
                    prop_assert_eq!(n, line.len());
                    prop_assert_eq!(&m.key[..], &k[..]);
                    prop_assert!(m.flags.value);
                    prop_assert_eq!(m.flag_tokens().count(), 4);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
