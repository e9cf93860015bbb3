//! Property tests with a fixed budget (bounded time in CI): random and
//! mutated frames never panic the RESP request parser or the memcached
//! parser, never make either consume more than it was given, valid commands
//! round-trip, and a running node survives the same inputs.

mod common;

use std::time::Duration;

use bytes::BytesMut;
use proptest::prelude::*;
use ringcache::resp::parse::{parse_request, ParseLimits, Parsed, RequestParser};

use common::*;

/// Commands used as seeds for mutation: harmless to the node whatever the
/// arguments become (no SHUTDOWN, DEBUG, CONFIG SET, huge SETRANGE offsets).
const SEEDS: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["GET", "k"],
    &["MSET", "a", "1", "b", "2"],
    &["INCRBY", "n", "10"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["APPEND", "k", "xyz"],
    &["EXPIRE", "k", "100"],
    &["DEL", "k", "a"],
    &["ECHO", "hello"],
    &["PING"],
    &["GETRANGE", "k", "0", "-1"],
    &["LCS", "a", "b"],
    &["MGET", "a", "b", "c"],
    &["SCAN", "0", "MATCH", "*", "COUNT", "10"],
    &["HELLO", "3"],
    &["SELECT", "1"],
    &["MULTI"],
    &["EXEC"],
    &["CLIENT", "SETNAME", "x"],
    &["TTL", "k"],
    &["OBJECT", "ENCODING", "k"],
];

fn limits() -> ParseLimits {
    ParseLimits {
        max_bulk_len: 512 * 1024 * 1024,
        unauthenticated: false,
    }
}

/// Parses everything parseable in `input`; checks every step made progress and
/// never consumed more than it had.
fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, String> {
    parse_all_with(input, limits())
}

fn parse_all_with(input: &[u8], limits: ParseLimits) -> Result<Vec<Vec<Vec<u8>>>, String> {
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        let before = buf.len();
        match parse_request(&mut buf, limits) {
            Ok(Parsed::Command(args)) => {
                assert!(buf.len() < before, "a parsed command consumed nothing");
                let consumed = before - buf.len();
                let payload: usize = args.iter().map(|a| a.len()).sum();
                assert!(payload <= consumed, "arguments larger than the frame");
                out.push(args.iter().map(|a| a.to_vec()).collect());
            }
            Ok(Parsed::Incomplete) => {
                assert_eq!(buf.len(), before, "Incomplete must not consume");
                return Ok(out);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn seed_frame() -> impl Strategy<Value = Vec<u8>> {
    (0..SEEDS.len()).prop_map(|i| {
        let args: Vec<&[u8]> = SEEDS[i].iter().map(|s| s.as_bytes()).collect();
        if i % 3 == 0 {
            // Some seeds in inline form.
            format!("{}\r\n", SEEDS[i].join(" ")).into_bytes()
        } else {
            encode(&args)
        }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            prop::sample::select(&b"*$\r\n-0123456789 \"'\\x"[..])
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

fn apply(mut frame: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let n = frame.len().max(1);
        match *m {
            Mutation::Flip(i, b) if !frame.is_empty() => frame[i % n] = b,
            Mutation::Insert(i, b) => frame.insert(i % (frame.len() + 1), b),
            Mutation::Delete(i) if !frame.is_empty() => {
                frame.remove(i % n);
            }
            Mutation::Truncate(i) => frame.truncate(i % (frame.len() + 1)),
            Mutation::Duplicate(a, b) if !frame.is_empty() => {
                let (s, e) = ((a % n).min(b % n), (a % n).max(b % n));
                let piece = frame[s..=e.min(frame.len() - 1)].to_vec();
                frame.extend(piece);
            }
            _ => {}
        }
    }
    frame
}

fn mutated_frames() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(seed_frame(), 1..4),
        prop::collection::vec(mutation(), 1..4),
    )
        .prop_map(|(frames, muts)| apply(frames.concat(), &muts))
}

fn random_args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    #[test]
    fn parser_survives_random_bytes(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_all(&input);
    }

    #[test]
    fn parser_survives_structured_garbage(
        input in prop::collection::vec(
            prop::sample::select(&b"*$\r\n-+:0123456789 \"'\\xabPING"[..]), 0..200)
    ) {
        let _ = parse_all(&input);
    }

    #[test]
    fn parser_survives_mutated_frames(
        input in mutated_frames(),
        unauthenticated in any::<bool>(),
        max_bulk_len in 0i64..64,
    ) {
        let _ = parse_all(&input);
        let _ = parse_all_with(&input, ParseLimits { max_bulk_len, unauthenticated });
    }

    #[test]
    fn encoded_commands_roundtrip(cmds in prop::collection::vec(random_args(), 1..5), split in any::<usize>()) {
        let mut wire = Vec::new();
        for c in &cmds {
            let args: Vec<&[u8]> = c.iter().map(|a| a.as_slice()).collect();
            wire.extend(encode(&args));
        }
        prop_assert_eq!(parse_all(&wire), Ok(cmds.clone()));
        // Any split point: the first part yields a prefix of the commands and
        // leaves the rest buffered, never an error.
        let cut = split % (wire.len() + 1);
        let mut buf = BytesMut::from(&wire[..cut]);
        let mut got = Vec::new();
        while let Ok(Parsed::Command(args)) = parse_request(&mut buf, limits()) {
            got.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
        }
        buf.extend_from_slice(&wire[cut..]);
        loop {
            match parse_request(&mut buf, limits()) {
                Ok(Parsed::Command(args)) => got.push(args.iter().map(|a| a.to_vec()).collect()),
                Ok(Parsed::Incomplete) => break,
                Err(e) => prop_assert!(false, "error after split at {}: {}", cut, e),
            }
        }
        prop_assert_eq!(got, cmds);
        prop_assert!(buf.is_empty());
    }

    /// The connection's resumable parser, fed in arbitrary chunks, agrees
    /// with the stateless parser on the whole input (valid or not).
    #[test]
    fn resumable_parser_matches_stateless(
        input in prop_oneof![mutated_frames(), prop::collection::vec(any::<u8>(), 0..200)],
        chunks in prop::collection::vec(1usize..40, 1..20),
    ) {
        let whole = parse_all(&input);
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        let outcome = loop {
            match parser.parse(&mut buf, limits()) {
                Ok(Parsed::Command(args)) => got.push(args.iter().map(|a| a.to_vec()).collect()),
                Ok(Parsed::Incomplete) if fed < input.len() => {
                    let n = (*sizes.next().unwrap_or(&1)).min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
                Ok(Parsed::Incomplete) => break Ok(got),
                Err(e) => break Err(e.to_string()),
            }
        };
        prop_assert_eq!(outcome, whole);
    }

    #[test]
    fn inline_roundtrip(words in prop::collection::vec("[a-zA-Z0-9_:.-]{1,12}", 1..6)) {
        let line = format!("{}\r\n", words.join(" "));
        let want: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        prop_assert_eq!(parse_all(line.as_bytes()), Ok(vec![want]));
    }
}

/// A huge command arriving in small pieces costs linear work: the parser
/// resumes instead of rescanning the arguments it already has (a stateless
/// rescan of this input takes minutes).
#[test]
fn resumable_parser_is_linear_in_trickled_input() {
    let keys: Vec<Vec<u8>> = (0..200_000)
        .map(|i| format!("key:{i}").into_bytes())
        .collect();
    let mut args: Vec<&[u8]> = vec![b"DEL"];
    args.extend(keys.iter().map(|k| k.as_slice()));
    let wire = encode(&args);
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let started = std::time::Instant::now();
    let mut parsed = None;
    for chunk in wire.chunks(256) {
        buf.extend_from_slice(chunk);
        if let Ok(Parsed::Command(a)) = parser.parse(&mut buf, limits()) {
            parsed = Some(a.len());
        }
    }
    assert_eq!(parsed, Some(200_001));
    assert!(buf.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// The same inputs sent to a running node: after each case it still answers
/// PING on a fresh connection.
#[test]
fn node_survives_random_and_mutated_input() {
    use proptest::test_runner::{Config, TestRunner};
    let rc = start_ringcache(&[]);
    let port = rc.port;
    let mut runner = TestRunner::new(Config {
        cases: 150,
        ..Config::default()
    });
    let check = |input: Vec<u8>| {
        let _ = exchange(port, &input, Duration::from_millis(20));
        assert_alive(port);
        Ok(())
    };
    runner
        .run(&prop::collection::vec(any::<u8>(), 1..300), check)
        .expect("random bytes");
    runner
        .run(&mutated_frames(), check)
        .expect("mutated frames");
}

/// memcached requests used as seeds for mutation (text and meta protocol).
const MC_SEEDS: &[&[u8]] = &[
    b"set k 1 0 3\r\nabc\r\n",
    b"add k 0 100 1 noreply\r\nx\r\n",
    b"cas k 0 0 2 17\r\nxy\r\n",
    b"append k 0 0 1\r\nz\r\n",
    b"get a b c\r\n",
    b"gats 100 a b\r\n",
    b"incr n 5\r\n",
    b"decr n 18446744073709551615\r\n",
    b"touch k 10\r\n",
    b"delete k noreply\r\n",
    b"flush_all 0\r\n",
    b"stats settings\r\n",
    b"mg k v f t c s k O123 q\r\n",
    b"ms k 3 T100 F5 I MS\r\nabc\r\n",
    b"md k q I T30\r\n",
    b"ma k N100 J13 D5 MD v\r\n",
    b"me k\r\n",
    b"mn\r\n",
];

/// A memcached seed with random byte edits (replace, insert, delete).
fn mutated_mc_requests() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(MC_SEEDS),
        prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(seed, edits)| {
            let mut req = seed.to_vec();
            for (at, byte, kind) in edits {
                let i = at % (req.len() + 1);
                match kind {
                    0 if i < req.len() => req[i] = byte,
                    1 => req.insert(i, byte),
                    _ if i < req.len() => {
                        req.remove(i);
                    }
                    _ => {}
                }
            }
            req
        })
}

/// Parses `input` as a memcached connection would: request after request
/// until more input is needed or the connection is closed. Every step must
/// consume something and never more than it was given.
fn mc_parse_all(input: &[u8], max_line: usize) {
    use ringcache::memcache::parse::{parse, McParsed, RequestLimits};
    let limits = RequestLimits {
        item_size_max: 1024,
        max_line,
    };
    let mut rest = input;
    while let McParsed::Request(_, used) = parse(rest, limits) {
        assert!(
            used > 0 && used <= rest.len(),
            "consumed {used} of {}",
            rest.len()
        );
        rest = &rest[used..];
    }
}

proptest! {
    // A fixed budget, so CI runs it in bounded time (~1 s).
    #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

    /// The memcached parser survives random bytes.
    #[test]
    fn memcached_parser_survives_random_bytes(
        input in prop::collection::vec(any::<u8>(), 0..300),
        max_line in 0usize..4096,
    ) {
        mc_parse_all(&input, max_line);
    }

    /// The memcached parser survives mutated and pipelined real requests.
    #[test]
    fn memcached_parser_survives_mutated_requests(
        reqs in prop::collection::vec(mutated_mc_requests(), 1..8),
        max_line in 0usize..4096,
    ) {
        mc_parse_all(&reqs.concat(), max_line);
    }
}
