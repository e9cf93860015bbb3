//! Thin (one-word) heap byte containers used to keep entries small.
//!
//! A `Box<[u8]>` or `Vec<u8>` costs 16–24 bytes inline plus its allocation; at
//! millions of keys that dominates memory. `ThinBytes` is one pointer to
//! `[len: u32][bytes]`, and `KeyBlob` one pointer to
//! `[lru: u32][klen: u32 | EXPIRE_FLAG][expire: u64, if flagged][key bytes]`,
//! so a key with its LRU bits and optional expiry is a single allocation.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr::NonNull;

const ALIGN: usize = 8;

fn layout(size: usize) -> Layout {
    // The size is bounded by the caller (< 4 GiB), so this cannot fail.
    Layout::from_size_align(size.max(1), ALIGN).unwrap_or(Layout::new::<u64>())
}

fn raw_alloc(size: usize) -> NonNull<u8> {
    let l = layout(size);
    // SAFETY: the layout has non-zero size.
    let p = unsafe { alloc(l) };
    match NonNull::new(p) {
        Some(p) => p,
        None => std::alloc::handle_alloc_error(l),
    }
}

/// An immutable byte string behind one pointer (`[len: u32][bytes]`).
pub struct ThinBytes {
    ptr: NonNull<u8>,
}

// SAFETY: ThinBytes owns its allocation exclusively, like Box<[u8]>.
unsafe impl Send for ThinBytes {}
// SAFETY: shared access is read-only.
unsafe impl Sync for ThinBytes {}

impl ThinBytes {
    /// Copies `data` (at most `u32::MAX` bytes; longer input is truncated by callers' limits).
    pub fn new(data: &[u8]) -> Self {
        let len = data.len().min(u32::MAX as usize);
        let ptr = raw_alloc(4 + len);
        // SAFETY: the allocation holds 4 + len bytes.
        unsafe {
            ptr.as_ptr().cast::<u32>().write(len as u32);
            std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr().add(4), len);
        }
        ThinBytes { ptr }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        // SAFETY: the header is always initialised.
        unsafe { self.ptr.as_ptr().cast::<u32>().read() as usize }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: len bytes follow the header.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(4), self.len()) }
    }
}

impl Drop for ThinBytes {
    fn drop(&mut self) {
        let size = 4 + self.len();
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout(size)) }
    }
}

impl Clone for ThinBytes {
    fn clone(&self) -> Self {
        ThinBytes::new(self.as_slice())
    }
}

impl std::fmt::Debug for ThinBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

const EXPIRE_FLAG: u32 = 1 << 31;

/// A key with its access bits and optional expiry in one allocation.
pub struct KeyBlob {
    ptr: NonNull<u8>,
}

// SAFETY: KeyBlob owns its allocation exclusively.
unsafe impl Send for KeyBlob {}
// SAFETY: shared access is read-only.
unsafe impl Sync for KeyBlob {}

impl KeyBlob {
    fn header(&self) -> (u32, usize, bool) {
        // SAFETY: the 8-byte header is always initialised.
        unsafe {
            let p = self.ptr.as_ptr().cast::<u32>();
            let meta = p.add(1).read();
            (
                p.read(),
                (meta & !EXPIRE_FLAG) as usize,
                meta & EXPIRE_FLAG != 0,
            )
        }
    }

    fn size_for(klen: usize, has_expire: bool) -> usize {
        8 + if has_expire { 8 } else { 0 } + klen
    }

    /// A blob for `key` with LRU bits and optional expiry (unix ms).
    pub fn new(key: &[u8], lru: u32, expire: Option<u64>) -> Self {
        let klen = key.len().min((EXPIRE_FLAG - 1) as usize);
        let ptr = raw_alloc(Self::size_for(klen, expire.is_some()));
        // SAFETY: the allocation holds the header, the optional expiry and klen bytes.
        unsafe {
            let p = ptr.as_ptr();
            p.cast::<u32>().write(lru);
            p.cast::<u32>()
                .add(1)
                .write(klen as u32 | if expire.is_some() { EXPIRE_FLAG } else { 0 });
            let mut off = 8;
            if let Some(t) = expire {
                p.add(8).cast::<u64>().write(t);
                off = 16;
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(off), klen);
        }
        KeyBlob { ptr }
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        let (_, klen, exp) = self.header();
        let off = if exp { 16 } else { 8 };
        // SAFETY: klen key bytes follow the header (and expiry).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), klen) }
    }

    /// LRU/LFU bits.
    pub fn lru(&self) -> u32 {
        self.header().0
    }

    /// Sets the LRU/LFU bits.
    pub fn set_lru(&mut self, lru: u32) {
        // SAFETY: the header is always initialised and we hold &mut.
        unsafe { self.ptr.as_ptr().cast::<u32>().write(lru) }
    }

    /// The expiry, if set.
    pub fn expire(&self) -> Option<u64> {
        let (_, _, exp) = self.header();
        // SAFETY: flagged blobs hold 8 aligned expiry bytes at offset 8.
        exp.then(|| unsafe { self.ptr.as_ptr().add(8).cast::<u64>().read() })
    }

    /// Sets or clears the expiry (reallocates only when presence changes).
    pub fn set_expire(&mut self, expire: Option<u64>) {
        let (lru, _, exp) = self.header();
        match (exp, expire) {
            (true, Some(t)) => {
                // SAFETY: flagged blobs hold the expiry at offset 8.
                unsafe { self.ptr.as_ptr().add(8).cast::<u64>().write(t) }
            }
            (false, None) => {}
            _ => *self = KeyBlob::new(self.key(), lru, expire),
        }
    }

    /// Heap bytes of the allocation.
    pub fn heap_size(&self) -> usize {
        let (_, klen, exp) = self.header();
        Self::size_for(klen, exp)
    }
}

impl Drop for KeyBlob {
    fn drop(&mut self) {
        let size = self.heap_size();
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), layout(size)) }
    }
}

impl std::fmt::Debug for KeyBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thin_bytes_roundtrip() {
        let t = ThinBytes::new(b"hello");
        assert_eq!(t.as_slice(), b"hello");
        assert_eq!(t.clone().as_slice(), b"hello");
        assert!(ThinBytes::new(b"").is_empty());
        assert_eq!(std::mem::size_of::<ThinBytes>(), 8);
    }

    #[test]
    fn key_blob_expiry_and_lru() {
        let mut k = KeyBlob::new(b"key:1", 7, None);
        assert_eq!((k.key(), k.lru(), k.expire()), (&b"key:1"[..], 7, None));
        k.set_expire(Some(123));
        assert_eq!(
            (k.key(), k.lru(), k.expire()),
            (&b"key:1"[..], 7, Some(123))
        );
        k.set_lru(9);
        k.set_expire(Some(456));
        assert_eq!((k.lru(), k.expire()), (9, Some(456)));
        k.set_expire(None);
        assert_eq!((k.key(), k.lru(), k.expire()), (&b"key:1"[..], 9, None));
        assert_eq!(std::mem::size_of::<Option<KeyBlob>>(), 8);
    }
}
