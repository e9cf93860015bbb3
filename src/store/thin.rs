//! Thin (one-word) heap byte containers used to keep entries small.
//!
//! A `Box<[u8]>` or `Vec<u8>` costs 16–24 bytes inline plus its allocation; at
//! millions of keys that dominates memory. `ThinBytes` is one pointer to
//! `[len: u32][bytes]`, and `KeyBlob` one pointer to
//! `[vlen: u8 | lru: u24][klen: u32 | flags][expire: u64?][memcached
//! cas+flags?][key][value bytes]?`, so a key with its LRU bits, optional
//! expiry and (for short strings) its value is a single allocation. The
//! inline value's length rides in the LRU word's spare top byte and the value
//! follows the key unpadded: a 16-byte key with a 32-byte value is a 56-byte
//! request, which glibc serves from a 64-byte chunk (with a separate length
//! word and padding it was 60 bytes and an 80-byte chunk).

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
        // SAFETY: a ThinBytes allocation is a `[len: u32][bytes]` region.
        unsafe { len_prefixed(self.ptr) }
    }
}

/// The bytes of a `[len: u32][bytes]` region.
///
/// # Safety
/// `ptr` must be 4-aligned and point to such a region that outlives `'a`.
unsafe fn len_prefixed<'a>(ptr: NonNull<u8>) -> &'a [u8] {
    let len = ptr.as_ptr().cast::<u32>().read() as usize;
    std::slice::from_raw_parts(ptr.as_ptr().add(4), len)
}

/// A short string value stored inside its entry's `KeyBlob` (Redis' `embstr`
/// idea: key and value in one allocation); it points at the blob, whose
/// header locates the value. Only `Entry` creates one and keeps
/// it pointing at its live blob; it is neither `Clone` nor `Copy`, and an
/// entry hands out `&mut` access to its value only after moving the bytes to
/// their own allocation, so it can never outlive the blob.
pub struct InlineStr {
    ptr: NonNull<u8>,
}

// SAFETY: read-only view into an allocation owned by the same entry.
unsafe impl Send for InlineStr {}
// SAFETY: read-only.
unsafe impl Sync for InlineStr {}

impl InlineStr {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: points at the live, inline-flagged blob of the owning entry.
        unsafe { KeyBlob::inline_region(self.ptr) }
    }
}

impl std::fmt::Debug for InlineStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
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
const MC_FLAG: u32 = 1 << 30;
const INLINE_FLAG: u32 = 1 << 29;
const KLEN_MASK: u32 = INLINE_FLAG - 1;
/// The LRU/LFU bits of the first header word (24, as in Redis); its top byte
/// holds the length of an inline value.
const LRU_MASK: u32 = (1 << 24) - 1;
const VLEN_SHIFT: u32 = 24;
/// Longest value a blob holds inline (its length must fit the spare byte).
pub const INLINE_MAX: usize = u8::MAX as usize;
/// Longest key the store can hold (2^29 - 1 bytes: one bit of the length word
/// marks inline values). Commands refuse longer keys before they reach it.
pub const MAX_KEY_LEN: usize = KLEN_MASK as usize;
const MC_SIZE: usize = 12;

/// Optional parts of a key blob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Expiry (unix ms).
    pub expire: Option<u64>,
    /// memcached (cas, flags).
    pub mc: Option<(u64, u32)>,
}

/// A key with its access bits and optional expiry in one allocation.
pub struct KeyBlob {
    ptr: NonNull<u8>,
}

// SAFETY: KeyBlob owns its allocation exclusively.
unsafe impl Send for KeyBlob {}
// SAFETY: shared access is read-only.
unsafe impl Sync for KeyBlob {}

impl KeyBlob {
    fn meta(&self) -> (u32, usize, bool, bool) {
        let (word, meta) = self.header();
        (
            word & LRU_MASK,
            (meta & KLEN_MASK) as usize,
            meta & EXPIRE_FLAG != 0,
            meta & MC_FLAG != 0,
        )
    }

    fn header(&self) -> (u32, u32) {
        // SAFETY: a blob always starts with its initialised 8-byte header.
        unsafe { Self::header_at(self.ptr) }
    }

    /// The two header words of the blob at `ptr`.
    ///
    /// # Safety
    /// `ptr` must point at a live blob.
    unsafe fn header_at(ptr: NonNull<u8>) -> (u32, u32) {
        let p = ptr.as_ptr().cast::<u32>();
        (p.read(), p.add(1).read())
    }

    /// The inline value of the blob at `ptr`: it follows the key, and its
    /// length is the top byte of the first header word.
    ///
    /// # Safety
    /// `ptr` must point at a live, inline-flagged blob that outlives `'a`.
    unsafe fn inline_region<'a>(ptr: NonNull<u8>) -> &'a [u8] {
        let (word, meta) = Self::header_at(ptr);
        let off = Self::size_for(
            (meta & KLEN_MASK) as usize,
            meta & EXPIRE_FLAG != 0,
            meta & MC_FLAG != 0,
        );
        let vlen = (word >> VLEN_SHIFT) as usize;
        std::slice::from_raw_parts(ptr.as_ptr().add(off), vlen)
    }

    fn size_for(klen: usize, has_expire: bool, has_mc: bool) -> usize {
        8 + if has_expire { 8 } else { 0 } + if has_mc { MC_SIZE } else { 0 } + klen
    }

    fn mc_offset(has_expire: bool) -> usize {
        if has_expire {
            16
        } else {
            8
        }
    }

    /// Builds a blob; an `inline` value longer than `INLINE_MAX` is not
    /// stored (the blob then has no inline value, see `inline_str`).
    fn build(key: &[u8], lru: u32, extras: Extras, inline: Option<&[u8]>) -> Self {
        let klen = key.len().min(KLEN_MASK as usize);
        let (has_exp, has_mc) = (extras.expire.is_some(), extras.mc.is_some());
        let inline = inline.filter(|v| v.len() <= INLINE_MAX);
        let key_end = Self::size_for(klen, has_exp, has_mc);
        let vlen = inline.map_or(0, <[u8]>::len);
        let ptr = raw_alloc(key_end + vlen);
        // SAFETY: the allocation holds the header, the optional parts, klen
        // bytes and, when inline, the vlen value bytes right after the key.
        unsafe {
            let p = ptr.as_ptr();
            p.cast::<u32>()
                .write((lru & LRU_MASK) | (vlen as u32) << VLEN_SHIFT);
            let meta = klen as u32
                | if has_exp { EXPIRE_FLAG } else { 0 }
                | if has_mc { MC_FLAG } else { 0 }
                | if inline.is_some() { INLINE_FLAG } else { 0 };
            p.cast::<u32>().add(1).write(meta);
            let mut off = 8;
            if let Some(t) = extras.expire {
                p.add(off).cast::<u64>().write(t);
                off += 8;
            }
            if let Some((cas, flags)) = extras.mc {
                p.add(off).cast::<u64>().write(cas);
                p.add(off + 8).cast::<u32>().write(flags);
                off += MC_SIZE;
            }
            std::ptr::copy_nonoverlapping(key.as_ptr(), p.add(off), klen);
            if let Some(v) = inline {
                std::ptr::copy_nonoverlapping(v.as_ptr(), p.add(off + klen), v.len());
            }
        }
        KeyBlob { ptr }
    }

    /// A blob for `key` with LRU bits and optional expiry (unix ms).
    pub fn new(key: &[u8], lru: u32, expire: Option<u64>) -> Self {
        Self::with_extras(key, lru, Extras { expire, mc: None })
    }

    /// A blob for `key` with its optional parts, built at once.
    pub fn with_extras(key: &[u8], lru: u32, extras: Extras) -> Self {
        Self::build(key, lru, extras, None)
    }

    /// A blob for `key` with its optional parts that also holds the short
    /// string `value` when it is at most `INLINE_MAX` bytes.
    pub fn with_inline(key: &[u8], lru: u32, extras: Extras, value: &[u8]) -> Self {
        Self::build(key, lru, extras, Some(value))
    }

    /// A view of the inline value, if this blob holds one. The view is valid
    /// until the blob is dropped or rebuilt (`set_expire`, `set_mc`,
    /// `drop_inline` may move it).
    pub fn inline_str(&self) -> Option<InlineStr> {
        (self.header().1 & INLINE_FLAG != 0).then_some(InlineStr { ptr: self.ptr })
    }

    /// The inline value bytes, if any.
    fn inline_bytes(&self) -> Option<&[u8]> {
        // SAFETY: the blob is inline-flagged and borrowed for the result's life.
        (self.header().1 & INLINE_FLAG != 0).then(|| unsafe { Self::inline_region(self.ptr) })
    }

    /// Rebuilds this blob with the same key and LRU bits but new `extras`,
    /// keeping the inline value when `keep_inline`.
    fn rebuild(&mut self, extras: Extras, keep_inline: bool) {
        let inline = if keep_inline {
            self.inline_bytes()
        } else {
            None
        };
        let fresh = KeyBlob::build(self.key(), self.lru(), extras, inline);
        *self = fresh;
    }

    /// Moves out of the inline form: the blob keeps only key and metadata.
    pub fn drop_inline(&mut self) {
        if self.header().1 & INLINE_FLAG != 0 {
            self.rebuild(self.extras(), false);
        }
    }

    fn extras(&self) -> Extras {
        Extras {
            expire: self.expire(),
            mc: self.mc(),
        }
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        let (_, klen, exp, mc) = self.meta();
        let off = Self::size_for(0, exp, mc);
        // SAFETY: klen key bytes follow the header and optional parts.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(off), klen) }
    }

    /// LRU/LFU bits.
    pub fn lru(&self) -> u32 {
        self.meta().0
    }

    /// Sets the LRU/LFU bits.
    pub fn set_lru(&mut self, lru: u32) {
        let word = (self.header().0 & !LRU_MASK) | (lru & LRU_MASK);
        // SAFETY: the header is always initialised and we hold &mut.
        unsafe { self.ptr.as_ptr().cast::<u32>().write(word) }
    }

    /// The expiry, if set.
    pub fn expire(&self) -> Option<u64> {
        let (_, _, exp, _) = self.meta();
        // SAFETY: flagged blobs hold 8 aligned expiry bytes at offset 8.
        exp.then(|| unsafe { self.ptr.as_ptr().add(8).cast::<u64>().read() })
    }

    /// Sets or clears the expiry (reallocates only when presence changes).
    pub fn set_expire(&mut self, expire: Option<u64>) {
        let (_, _, exp, _) = self.meta();
        match (exp, expire) {
            (true, Some(t)) => {
                // SAFETY: flagged blobs hold the expiry at offset 8.
                unsafe { self.ptr.as_ptr().add(8).cast::<u64>().write(t) }
            }
            (false, None) => {}
            _ => self.rebuild(
                Extras {
                    expire,
                    ..self.extras()
                },
                true,
            ),
        }
    }

    /// memcached (cas, flags), if this key ever carried them.
    pub fn mc(&self) -> Option<(u64, u32)> {
        let (_, _, exp, mc) = self.meta();
        let off = Self::mc_offset(exp);
        // SAFETY: MC-flagged blobs hold cas (8-aligned) and flags at `off`.
        mc.then(|| unsafe {
            let p = self.ptr.as_ptr().add(off);
            (p.cast::<u64>().read(), p.add(8).cast::<u32>().read())
        })
    }

    /// Sets memcached (cas, flags); a blob without them only grows when a
    /// non-zero value must be kept.
    pub fn set_mc(&mut self, cas: u64, flags: u32) {
        let (_, _, exp, mc) = self.meta();
        if mc {
            let off = Self::mc_offset(exp);
            // SAFETY: MC-flagged blobs hold cas and flags at `off`; we hold &mut.
            unsafe {
                let p = self.ptr.as_ptr().add(off);
                p.cast::<u64>().write(cas);
                p.add(8).cast::<u32>().write(flags);
            }
        } else if cas != 0 || flags != 0 {
            self.rebuild(
                Extras {
                    mc: Some((cas, flags)),
                    ..self.extras()
                },
                true,
            );
        }
    }

    /// Heap bytes of the allocation.
    pub fn heap_size(&self) -> usize {
        let (_, klen, exp, mc) = self.meta();
        Self::size_for(klen, exp, mc) + self.inline_bytes().map_or(0, <[u8]>::len)
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

    #[test]
    fn key_blob_memcached_section() {
        let mut k = KeyBlob::new(b"mk", 3, None);
        k.set_mc(0, 0);
        assert_eq!(k.mc(), None);
        k.set_mc(42, 7);
        assert_eq!(
            (k.key(), k.lru(), k.mc(), k.expire()),
            (&b"mk"[..], 3, Some((42, 7)), None)
        );
        k.set_expire(Some(99));
        assert_eq!(
            (k.key(), k.mc(), k.expire()),
            (&b"mk"[..], Some((42, 7)), Some(99))
        );
        k.set_mc(43, 8);
        k.set_expire(None);
        assert_eq!(
            (k.key(), k.mc(), k.expire()),
            (&b"mk"[..], Some((43, 8)), None)
        );
    }

    #[test]
    fn key_blob_inline_value_survives_rebuilds() {
        let mut k = KeyBlob::with_inline(
            b"key:123",
            5,
            Extras::default(),
            b"0123456789abcdef0123456789abcdef",
        );
        let v = |k: &KeyBlob| k.inline_str().map(|s| s.as_slice().to_vec());
        assert_eq!(k.key(), b"key:123");
        assert_eq!(
            v(&k).as_deref(),
            Some(&b"0123456789abcdef0123456789abcdef"[..])
        );
        // 8 header + 7 key + 32 value.
        assert_eq!(k.heap_size(), 47);
        k.set_expire(Some(77));
        k.set_mc(9, 3);
        assert_eq!(
            (k.key(), k.expire(), k.mc(), k.lru()),
            (&b"key:123"[..], Some(77), Some((9, 3)), 5)
        );
        assert_eq!(
            v(&k).as_deref(),
            Some(&b"0123456789abcdef0123456789abcdef"[..])
        );
        k.drop_inline();
        assert_eq!(v(&k), None);
        assert_eq!(
            (k.key(), k.expire(), k.mc()),
            (&b"key:123"[..], Some(77), Some((9, 3)))
        );
        assert!(KeyBlob::new(b"k", 0, None).inline_str().is_none());
        let empty = KeyBlob::with_inline(b"", 0, Extras::default(), b"");
        assert_eq!(v(&empty).as_deref(), Some(&b""[..]));
    }

    /// The benchmark shape (16-byte key, 32-byte value) must stay a 56-byte
    /// request: glibc serves up to 56 bytes from a 64-byte chunk, 57..=72
    /// from an 80-byte one (16 bytes more per key).
    #[test]
    fn key_blob_small_string_fits_a_64_byte_chunk() {
        let mut k = KeyBlob::with_inline(
            b"key:000000123456",
            0xAB_CDEF,
            Extras::default(),
            &[b'x'; 32],
        );
        assert_eq!(k.heap_size(), 56);
        // SAFETY: k is a live blob allocated by the global (glibc) allocator.
        let usable = unsafe { libc::malloc_usable_size(k.ptr.as_ptr().cast()) };
        assert!(usable <= 56 + 8, "usable {usable}");
        // The value length shares the LRU word: neither clobbers the other.
        assert_eq!(k.lru(), 0xAB_CDEF);
        k.set_lru(u32::MAX);
        assert_eq!(k.lru(), 0xFF_FFFF);
        let v = k.inline_str().map(|s| s.as_slice().to_vec());
        assert_eq!(v.as_deref(), Some(&[b'x'; 32][..]));
        k.set_lru(0);
        assert_eq!((k.lru(), k.key()), (0, &b"key:000000123456"[..]));
        assert_eq!(k.inline_str().map(|s| s.as_slice().len()), Some(32));
        // A value too long for the length byte is not kept inline.
        let long = KeyBlob::with_inline(b"k", 1, Extras::default(), &[b'y'; INLINE_MAX + 1]);
        assert!(long.inline_str().is_none());
        assert_eq!((long.heap_size(), long.lru()), (9, 1));
        let max = KeyBlob::with_inline(b"k", 1, Extras::default(), &[b'z'; INLINE_MAX]);
        assert_eq!(
            max.inline_str().map(|s| s.as_slice().len()),
            Some(INLINE_MAX)
        );
    }
}
