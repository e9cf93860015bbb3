//! Round trips through the whole codec: what the encoders write, the frame
//! scanner delimits and the request parser and reply decoder read back,
//! whole, cut anywhere, and on garbage (errors, never panics). The
//! `redis-protocol` crate's encoder and RESP3 decoder serve as independent
//! oracles.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::frame::tests::frames;
use super::reply::format_double;
use super::*;

/// A reply, written by the reply builder in either protocol.
#[derive(Debug, Clone)]
enum Tree {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Double(f64),
    Bool(bool),
    Verbatim(Vec<u8>),
    Array(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
    Set(Vec<Tree>),
    Push(Vec<Tree>),
}

/// A map key or set member: a string or integer, as Redis sends (the
/// crate's RESP3 decoder, the oracle, keeps them in hash tables and refuses
/// aggregates there).
fn member() -> impl Strategy<Value = Tree> {
    prop_oneof![
        "[a-z]{0,8}".prop_map(Tree::Simple),
        vec(any::<u8>(), 0..8).prop_map(Tree::Bulk),
        any::<i64>().prop_map(Tree::Int),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 ]{0,8}".prop_map(Tree::Simple),
        "[A-Z]{1,6}( [a-z\r\n]{0,6})?".prop_map(Tree::Error),
        any::<i64>().prop_map(Tree::Int),
        vec(any::<u8>(), 0..24).prop_map(Tree::Bulk),
        Just(Tree::Null),
        Just(Tree::NullArray),
        prop_oneof![
            proptest::num::f64::NORMAL | proptest::num::f64::ZERO,
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
        .prop_map(Tree::Double),
        any::<bool>().prop_map(Tree::Bool),
        vec(any::<u8>(), 0..24).prop_map(Tree::Verbatim),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Tree::Array),
            vec((member(), inner.clone()), 0..4).prop_map(Tree::Map),
            vec(member(), 0..6).prop_map(Tree::Set),
            vec(inner, 0..6).prop_map(Tree::Push),
        ]
    })
}

fn write(r: &mut Reply, t: &Tree) {
    match t {
        Tree::Simple(s) => r.simple(s),
        Tree::Error(e) => r.error(e),
        Tree::Int(n) => r.int(*n),
        Tree::Bulk(b) => r.bulk(b),
        Tree::Null => r.null(),
        Tree::NullArray => r.null_array(),
        Tree::Double(d) => r.double(*d),
        Tree::Bool(b) => r.boolean(*b),
        Tree::Verbatim(b) => r.verbatim(b),
        Tree::Array(items) => {
            r.array_len(items.len());
            items.iter().for_each(|t| write(r, t));
        }
        Tree::Map(pairs) => {
            r.map_len(pairs.len());
            for (k, v) in pairs {
                write(r, k);
                write(r, v);
            }
        }
        Tree::Set(items) => {
            r.set_len(items.len());
            items.iter().for_each(|t| write(r, t));
        }
        Tree::Push(items) => {
            r.push_len(items.len());
            items.iter().for_each(|t| write(r, t));
        }
    }
}

/// What a RESP2 client reads from `t` written for RESP2.
fn resp2_value(t: &Tree) -> ReplyValue {
    match t {
        Tree::Simple(s) => ReplyValue::SimpleString(s.clone().into_bytes()),
        Tree::Error(e) => ReplyValue::Error(e.replace(['\r', '\n'], " ")),
        Tree::Int(n) => ReplyValue::Integer(*n),
        Tree::Bulk(b) | Tree::Verbatim(b) => ReplyValue::BulkString(b.clone()),
        Tree::Null | Tree::NullArray => ReplyValue::Null,
        Tree::Double(d) => ReplyValue::BulkString(format_double(*d).into_bytes()),
        Tree::Bool(b) => ReplyValue::Integer(i64::from(*b)),
        Tree::Array(items) | Tree::Set(items) | Tree::Push(items) => {
            ReplyValue::Array(items.iter().map(resp2_value).collect())
        }
        Tree::Map(pairs) => ReplyValue::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [resp2_value(k), resp2_value(v)])
                .collect(),
        ),
    }
}

/// The replies `trees` written back to back in `proto`, and each one's length.
fn written(trees: &[Tree], proto: Proto) -> (BytesMut, Vec<usize>) {
    let mut r = Reply::new();
    r.proto = proto;
    let mut lens = Vec::new();
    for t in trees {
        let before = r.buf.len();
        write(&mut r, t);
        lens.push(r.buf.len() - before);
    }
    (r.buf, lens)
}

/// Pieces of RESP, valid and not, that garbage is made of.
const FRAGMENTS: &[&[u8]] = &[
    b"*1\r\n",
    b"*2\r\n",
    b"$3\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"%1\r\n",
    b"|1\r\n",
    b"~1\r\n",
    b">1\r\n",
    b"=5\r\n",
    b"!2\r\n",
    b"$0\r\n",
    b"*9223372036854775807\r\n",
    b"$99999\r\n",
    b"abc",
    b"\r\n",
    b"\r",
    b"\n",
    b"\0",
    b"+",
    b"-",
    b":",
    b"_",
    b",",
    b"#",
    b"(",
    b"?",
    b"1",
    b"-2",
    b"\"q",
    b" ",
    b"'",
];

proptest! {
    /// RESP2 replies: the scanner finds each one whole (however the bytes
    /// arrive) and the decoder reads back what was written; a cut reply is
    /// incomplete to both.
    #[test]
    fn resp2_replies_scan_and_decode(trees in vec(tree(), 1..4)) {
        let (buf, lens) = written(&trees, Proto::Resp2);
        prop_assert_eq!(frames(&buf).expect("well-formed"), lens.clone());
        let mut at = 0;
        for (t, n) in trees.iter().zip(&lens) {
            prop_assert_eq!(decode_reply(&buf[at..at + n]), Ok(resp2_value(t)));
            at += n;
        }
        for cut in 0..lens[0] {
            prop_assert_eq!(FrameScan::default().next(&buf[..cut]), Ok(None));
            prop_assert_eq!(decode_reply(&buf[..cut]), Err(ReplyDecodeError::Incomplete));
        }
    }

    /// RESP3 replies: the scanner's frame lengths agree with the
    /// `redis-protocol` RESP3 decoder's, however the bytes arrive.
    #[test]
    fn resp3_replies_scan_like_the_crate_decoder(trees in vec(tree(), 1..4)) {
        let (buf, lens) = written(&trees, Proto::Resp3);
        prop_assert_eq!(frames(&buf).expect("well-formed"), lens.clone());
        let mut at = 0;
        for n in &lens {
            let decoded = redis_protocol::resp3::decode::complete::decode(&buf[at..])
                .expect("the crate reads it");
            prop_assert_eq!(decoded.map(|(_, used)| used), Some(*n));
            at += n;
        }
    }

    /// Commands: encoded, delimited as one frame, parsed back by the request
    /// parser (whole, or resumed after any cut) and decoded as an array.
    #[test]
    fn commands_encode_scan_parse_decode(
        args in vec(vec(any::<u8>(), 0..20), 0..8),
        cut in any::<proptest::sample::Index>(),
    ) {
        let mut buf = BytesMut::new();
        encode_command(&mut buf, &args);
        let wire = buf.clone().freeze();
        prop_assert_eq!(frames(&wire).expect("well-formed"), vec![wire.len()]);
        let expected: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.clone())).collect();
        prop_assert_eq!(
            decode_reply(&wire),
            Ok(ReplyValue::Array(args.iter().map(|a| ReplyValue::BulkString(a.clone())).collect()))
        );
        prop_assert_eq!(parse_request(&mut buf, ParseLimits::default()), Ok(Parsed::Command(expected.clone())));
        prop_assert!(buf.is_empty());
        let cut = cut.index(wire.len());
        let mut parser = RequestParser::default();
        let mut arriving = BytesMut::from(&wire[..cut]);
        prop_assert_eq!(parser.parse(&mut arriving, ParseLimits::default()), Ok(Parsed::Incomplete));
        arriving.extend_from_slice(&wire[cut..]);
        prop_assert_eq!(parser.parse(&mut arriving, ParseLimits::default()), Ok(Parsed::Command(expected)));
    }

    /// Any RESP2 value the `redis-protocol` encoder writes is found whole,
    /// however the bytes arrive, and decoded back.
    #[test]
    fn frame_scan_agrees_with_the_resp2_encoder(
        items in vec(proptest::option::of(vec(any::<u8>(), 0..20)), 0..6),
        nested in any::<bool>(),
    ) {
        use redis_protocol::resp2::{encode::extend_encode, types::BytesFrame};
        let bulk = |v: &Option<Vec<u8>>| match v {
            Some(b) => BytesFrame::BulkString(Bytes::from(b.clone())),
            None => BytesFrame::Null,
        };
        let mut frame = BytesFrame::Array(items.iter().map(bulk).collect());
        if nested {
            frame = BytesFrame::Array(vec![frame, BytesFrame::Integer(-3), BytesFrame::Error("ERR e".into())]);
        }
        let mut buf = BytesMut::new();
        extend_encode(&mut buf, &frame, false).expect("encode");
        buf.extend_from_slice(b"+next\r\n");
        prop_assert_eq!(frames(&buf).expect("well-formed"), vec![buf.len() - 7, 7]);
        prop_assert_eq!(decode_reply(&buf), Ok(frame.to_owned_frame()));
    }

    /// Garbage made of RESP fragments: every reader answers (an error or
    /// "incomplete"), none panics, and the scanner resumed byte by byte agrees
    /// with one pass.
    #[test]
    fn garbage_is_an_error_not_a_panic(pieces in vec(proptest::sample::select(FRAGMENTS), 0..16)) {
        let buf: Vec<u8> = pieces.concat();
        let _ = frames(&buf);
        let _ = decode_reply(&buf);
        let limits = ParseLimits { max_bulk_len: 1 << 16, unauthenticated: false };
        let mut rest = BytesMut::from(&buf[..]);
        while let Ok(Parsed::Command(_)) = parse_request(&mut rest, limits) {}
    }
}
