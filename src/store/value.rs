//! Value types held by entries.
//!
//! Strings keep Redis' three encodings (`int`, `embstr`, `raw`) because OBJECT
//! ENCODING exposes them and integer strings are smaller and faster for INCR.

use super::hash::HashValue;
use super::set::SetValue;
use crate::resp::parse::string_to_i64;

/// Longest string Redis stores as `embstr`.
pub const EMBSTR_MAX: usize = 44;

/// A string value.
#[derive(Debug, Clone)]
pub enum StrValue {
    /// An integer kept as an integer (`int` encoding).
    Int(i64),
    /// A short immutable string (`embstr`).
    Emb(Box<[u8]>),
    /// A string that was modified in place (`raw`), with spare capacity for APPEND.
    Raw(Vec<u8>),
}

impl StrValue {
    /// Encodes bytes like Redis' `tryObjectEncoding`: integers become `Int`.
    pub fn from_bytes(b: &[u8]) -> Self {
        if b.len() <= 20 {
            if let Some(n) = string_to_i64(b) {
                return StrValue::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            StrValue::Emb(b.into())
        } else {
            StrValue::Raw(b.to_vec())
        }
    }

    /// Writes the string form into `out` and returns it as a slice, without
    /// allocating for the byte encodings.
    pub fn as_bytes<'a>(&'a self, scratch: &'a mut itoa::Buffer) -> &'a [u8] {
        match self {
            StrValue::Int(n) => scratch.format(*n).as_bytes(),
            StrValue::Emb(b) => b,
            StrValue::Raw(v) => v,
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
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A mutable byte vector (converting to `raw`), for APPEND and SETRANGE.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, StrValue::Raw(_)) {
            *self = StrValue::Raw(self.to_vec());
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
            StrValue::Emb(_) => "embstr",
            StrValue::Raw(_) => "raw",
        }
    }
}

/// Any value a key can hold.
#[derive(Debug, Clone)]
pub enum Value {
    /// A string.
    Str(StrValue),
    /// A hash.
    Hash(HashValue),
    /// A set.
    Set(SetValue),
}

impl Value {
    /// The TYPE name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
        }
    }

    /// Approximate heap bytes owned by the value.
    pub fn mem_usage(&self) -> usize {
        match self {
            Value::Str(StrValue::Int(_)) => 0,
            Value::Str(StrValue::Emb(b)) => b.len(),
            Value::Str(StrValue::Raw(v)) => v.capacity(),
            Value::Hash(h) => h.mem_usage(),
            Value::Set(s) => s.mem_usage(),
        }
    }
}
