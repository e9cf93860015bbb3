//! Value types held by entries.
//!
//! Strings keep Redis' three encodings (`int`, `embstr`, `raw`) because OBJECT
//! ENCODING exposes them and integer strings are smaller and faster for INCR.

use super::hash::HashValue;
use super::list::List;
use super::set::SetValue;
use super::thin::{InlineStr, ThinBytes};
use crate::resp::parse::BIG_ARG;
use crate::util::parse_i64;
use bytes::Bytes;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A string value.
#[derive(Debug)]
pub enum StrValue {
    /// An integer kept as an integer (`int` encoding).
    Int(i64),
    /// An immutable string (`embstr` up to 44 bytes, else `raw`), one pointer wide.
    Emb(ThinBytes),
    /// A string that was modified in place (`raw`), with spare capacity for APPEND.
    Raw(Box<Vec<u8>>),
    /// A short immutable string stored in its entry's key allocation
    /// (`embstr`); only seen through `&Entry::value()`.
    Inline(InlineStr),
    /// A big immutable string (`raw`) kept in the buffer it was received in
    /// (see [`StrValue::adopt`]), boxed to keep the enum one word wide.
    Big(Box<Bytes>),
}

impl Clone for StrValue {
    /// Clones are free-standing: an inline string becomes an `Emb` copy.
    fn clone(&self) -> Self {
        match self {
            StrValue::Int(n) => StrValue::Int(*n),
            StrValue::Emb(b) => StrValue::Emb(b.clone()),
            StrValue::Raw(v) => StrValue::Raw(v.clone()),
            StrValue::Inline(b) => StrValue::Emb(ThinBytes::new(b.as_slice())),
            StrValue::Big(b) => StrValue::Big(b.clone()),
        }
    }
}

impl StrValue {
    /// Encodes bytes like Redis' `tryObjectEncoding`: integers become `Int`.
    pub fn from_bytes(b: &[u8]) -> Self {
        match Self::int_form(b) {
            Some(n) => StrValue::Int(n),
            None => StrValue::Emb(ThinBytes::new(b)),
        }
    }

    /// `arg` itself, without a copy, when it is a big argument the parser
    /// received in its own buffer (at least [`BIG_ARG`] bytes, and no other
    /// reference to that buffer: `RequestParser::with_big_args`), as Redis
    /// makes such a query buffer the string object. Anything else is copied
    /// by the caller, since keeping a slice would pin the whole read buffer.
    pub fn adopt(arg: &Bytes) -> Option<Self> {
        (arg.len() >= BIG_ARG && arg.is_unique()).then(|| StrValue::Big(Box::new(arg.clone())))
    }

    /// The integer `b` is stored as under the `int` encoding, if any.
    pub fn int_form(b: &[u8]) -> Option<i64> {
        if b.len() <= 20 {
            parse_i64(b)
        } else {
            None
        }
    }

    /// Writes the string form into `out` and returns it as a slice, without
    /// allocating for the byte encodings.
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            StrValue::Int(n) => scratch.format(*n).as_bytes(),
            StrValue::Emb(b) => b.as_slice(),
            StrValue::Raw(v) => v,
            StrValue::Inline(b) => b.as_slice(),
            StrValue::Big(b) => b,
        }
    }

    /// An owned copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut s = itoa::Buffer::new();
        self.as_bytes(&mut s).to_vec()
    }

    /// Length in bytes of the string form.
    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrValue::Emb(b) => b.len(),
            StrValue::Raw(v) => v.len(),
            StrValue::Inline(b) => b.as_slice().len(),
            StrValue::Big(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A `raw` string owning `v` (APPEND/SETRANGE results).
    pub fn raw(v: Vec<u8>) -> Self {
        StrValue::Raw(Box::new(v))
    }

    /// A string kept exactly as given (no integer encoding), e.g. INCRBYFLOAT results.
    pub fn verbatim(b: &[u8]) -> Self {
        StrValue::Emb(ThinBytes::new(b))
    }

    /// A mutable byte vector (converting to `raw`), for APPEND and SETRANGE.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(Box::new(self.to_vec()));
        }
        match self {
            StrValue::Raw(v) => v,
            _ => unreachable!("converted to Raw above"),
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Emb(b) if b.len() <= EMBSTR_MAX => "embstr",
            StrValue::Emb(_) => "raw",
            StrValue::Raw(_) => "raw",
            StrValue::Inline(_) => "embstr",
            StrValue::Big(_) => "raw",
        }
    }
}

/// Any value a key can hold.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string.
    Str(StrValue),
    /// A list (boxed: keeps `Value` as small as a string).
    List(Box<List>),
    /// A sorted set.
    ZSet(Box<super::zset::ZSet>),
    /// A hash.
    Hash(Box<HashValue>),
    /// A set.
    Set(Box<SetValue>),
    /// A stream.
    Stream(Box<super::stream::Stream>),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::ZSet(_) => "zset",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::Stream(_) => "stream",
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::List(l) => l.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes owned by the value.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Emb(b)) => 4 + b.len(),
            // Counted with the key allocation (`KeyBlob::heap_size`).
            Value::Str(StrValue::Inline(_)) => 0,
            Value::Str(StrValue::Raw(v)) => v.capacity(),
            // The payload with its CRLF, and the box.
            Value::Str(StrValue::Big(b)) => b.len() + 2 + std::mem::size_of::<Bytes>(),
            Value::List(l) => l.mem_usage(),
            Value::ZSet(z) => z.mem_usage(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
            Value::Stream(s) => s.mem_usage(),
        }
    }
}
