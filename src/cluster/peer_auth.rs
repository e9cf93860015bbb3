//! Authentication between cluster nodes with the shared `cluster-secret`,
//! which never travels itself.
//!
//! **Peer links** (`cluster::pool`) run a mutual challenge–response per
//! connection: the connecting node sends `CLUSTER PROXY-ORIGIN NONCE <its
//! nonce>`; the accepting node answers its node id, a fresh random [`nonce`]
//! it remembers for that connection only, and its own proof over the
//! connecting node's nonce; the connecting node checks that proof (a node
//! without the secret is not a peer to send data to) and answers
//! `CLUSTER PROXY-ORIGIN <hop> <its id> <proof>`. A proof is
//! HMAC-SHA256(secret, label ‖ nonce ‖ prover id ‖ other id ‖ [`Direction`])
//! ([`proof`]), checked in constant time ([`verify`]). The accepting node
//! forgets its nonce after one answer, right or wrong, so a sniffed proof is
//! worth nothing on another connection. Only a connection that passed is a
//! peer link: the internal CLUSTER subcommands are refused on every other one.
//!
//! With the default empty secret anyone can compute these: the cluster then
//! trusts its network (a warning says so at startup).

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Domain label of peer-link proofs.
const LINK_LABEL: &[u8] = b"ringcache-peer-link-v1";

/// Which side of a link a proof comes from (a proof of one side is never
/// accepted from the other).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The connecting node proves itself to the accepting one.
    Connect,
    /// The accepting node proves itself to the connecting one.
    Accept,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::Connect => b"connect",
            Direction::Accept => b"accept",
        }
    }
}

/// A keyed HMAC over `parts`, each preceded by its length (no two different
/// part lists hash alike).
fn mac(secret: &str, parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m
}

/// A fresh random challenge, as 64 hex digits.
pub fn nonce() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// A proof's HMAC: node `from` answers the challenge `nonce` of node `to`.
fn link_mac(secret: &str, nonce: &str, from: &str, to: &str, side: Direction) -> HmacSha256 {
    mac(
        secret,
        &[
            LINK_LABEL,
            nonce.as_bytes(),
            from.as_bytes(),
            to.as_bytes(),
            side.label(),
        ],
    )
}

/// The proof node `from` (on side `side`) answers to the challenge `nonce`
/// of node `to`, as hex digits.
pub fn proof(secret: &str, nonce: &str, from: &str, to: &str, side: Direction) -> String {
    hex(&link_mac(secret, nonce, from, to, side)
        .finalize()
        .into_bytes())
}

/// Whether `answer` (hex digits) is the [`proof`] for this challenge,
/// compared in constant time.
pub fn verify(
    secret: &str,
    nonce: &str,
    from: &str,
    to: &str,
    side: Direction,
    answer: &[u8],
) -> bool {
    unhex(answer).is_some_and(|a| {
        link_mac(secret, nonce, from, to, side)
            .verify_slice(&a)
            .is_ok()
    })
}

/// Bytes of the MAC that ends every gossip datagram of a cluster with a
/// secret (HMAC-SHA256 truncated, as TLS and IPsec truncate theirs).
pub const GOSSIP_TAG_LEN: usize = 16;

fn gossip_mac(secret: &str, payload: &[u8]) -> HmacSha256 {
    mac(secret, &[b"gossip", payload])
}

/// Appends the gossip MAC of `datagram` (the payload so far) to it.
pub fn seal_gossip(secret: &str, datagram: &mut Vec<u8>) {
    let tag = gossip_mac(secret, datagram).finalize().into_bytes();
    datagram.extend_from_slice(&tag[..GOSSIP_TAG_LEN]);
}

/// The payload of a sealed gossip datagram when its MAC is right (checked
/// in constant time), `None` for junk or a datagram of another secret.
pub fn open_gossip<'a>(secret: &str, datagram: &'a [u8]) -> Option<&'a [u8]> {
    let split = datagram.len().checked_sub(GOSSIP_TAG_LEN)?;
    let (payload, tag) = datagram.split_at(split);
    gossip_mac(secret, payload)
        .verify_truncated_left(tag)
        .is_ok()
        .then_some(payload)
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sealed datagram opens with its secret only; junk, a short
    /// datagram and a changed byte are refused.
    #[test]
    fn gossip_seal_and_open() {
        let mut d = b"chitchat payload".to_vec();
        seal_gossip("s1", &mut d);
        assert_eq!(d.len(), 16 + GOSSIP_TAG_LEN);
        assert_eq!(open_gossip("s1", &d), Some(&b"chitchat payload"[..]));
        assert_eq!(open_gossip("s2", &d), None);
        assert_eq!(open_gossip("s1", &d[1..]), None);
        assert_eq!(open_gossip("s1", b"short"), None);
        let mut forged = d.clone();
        forged[0] ^= 1;
        assert_eq!(open_gossip("s1", &forged), None);
    }

    #[test]
    fn proofs_bind_secret_nonce_ids_and_direction() {
        let n = nonce();
        assert_eq!(n.len(), 64);
        assert_ne!(n, nonce());
        let c = Direction::Connect;
        let p = proof("s3cret", &n, "a", "b", c);
        let ok = |secret: &str, nonce: &str, from: &str, to: &str, side, answer: &[u8]| {
            verify(secret, nonce, from, to, side, answer)
        };
        assert!(ok("s3cret", &n, "a", "b", c, p.as_bytes()));
        assert!(!ok("other", &n, "a", "b", c, p.as_bytes()));
        assert!(!ok("s3cret", &nonce(), "a", "b", c, p.as_bytes()));
        assert!(!ok("s3cret", &n, "b", "a", c, p.as_bytes()));
        assert!(!ok("s3cret", &n, "a", "b", Direction::Accept, p.as_bytes()));
        // Length-prefixed parts: shifting bytes between ids changes the proof.
        assert!(!ok("s3cret", &n, "ab", "", c, p.as_bytes()));
        assert!(!ok("s3cret", &n, "a", "b", c, b"zz"));
        assert!(!ok("s3cret", &n, "a", "b", c, b"abc"));
        assert!(!ok("s3cret", &n, "a", "b", c, &p.as_bytes()[..62]));
    }
}
