//! Per-thread spare read buffers. A connection that goes idle hands its
//! empty read buffer back here and takes one when input arrives, so an idle
//! connection holds no buffer (like Redis' query buffer) while a busy one
//! does not pay a 16 KB `malloc` and `free` for every request.

use std::cell::RefCell;

use bytes::BytesMut;

/// Size of a read buffer (Redis' `PROTO_IOBUF_LEN`).
pub const READ_ROOM: usize = 16 * 1024;
/// Spare buffers kept per thread.
const KEEP: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Gives a connection that gave its read buffer back (capacity 0) a spare
/// one before it reads.
pub fn refill(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = take();
    }
}

/// An empty read buffer with `READ_ROOM` bytes of room.
fn take() -> BytesMut {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| BytesMut::with_capacity(READ_ROOM))
}

/// Takes back a connection's read buffer once it is empty. It is kept only
/// when its whole allocation can be reused (no request's arguments still
/// point into it) and the thread keeps fewer than `KEEP`; otherwise it is
/// dropped.
pub fn give(mut buf: BytesMut) {
    if !buf.is_empty() || !buf.try_reclaim(READ_ROOM) || buf.capacity() > 2 * READ_ROOM {
        return;
    }
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            s.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn reuses_buffers_nothing_points_into() {
        let mut b = take();
        b.put_slice(b"PING\r\n");
        let frame = b.split_to(6).freeze();
        give(b);
        // The frame still shares that buffer: it was not kept.
        let fresh = take();
        assert_ne!(fresh.as_ptr(), frame.as_ptr());
        assert!(fresh.capacity() >= READ_ROOM);
        let mut b = fresh;
        b.put_slice(b"PING\r\n");
        let at = b.as_ptr();
        drop(b.split_to(6));
        give(b);
        let again = take();
        assert_eq!(again.as_ptr(), at, "rewound and reused");
        assert!(again.capacity() >= READ_ROOM && again.is_empty());
    }
}
