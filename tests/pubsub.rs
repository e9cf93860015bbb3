//! Pub/Sub over raw connections: replies, messages and push frames must be
//! byte-identical to a real redis-server; slow subscribers are disconnected.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::Duration;

/// Runs one subscriber/publisher scenario and returns every raw reply read.
fn scenario(port: u16) -> Vec<String> {
    let mut sub = RawConn::connect(port);
    let mut publ = RawConn::connect(port);
    let mut out = Vec::new();
    let mut push = |r: Vec<u8>| out.push(String::from_utf8_lossy(&r).into_owned());
    push(sub.cmd(&[b"SUBSCRIBE", b"news", b"sport"]));
    push(sub.read_reply());
    push(sub.cmd(&[b"PSUBSCRIBE", b"n*", b"h?llo"]));
    push(sub.read_reply());
    push(publ.cmd(&[b"PUBLISH", b"news", b"hello world"]));
    push(sub.read_reply());
    push(sub.read_reply());
    push(publ.cmd(&[b"PUBLISH", b"hallo", b"x"]));
    push(sub.read_reply());
    push(publ.cmd(&[b"PUBLISH", b"nobody", b""]));
    push(sub.read_reply());
    push(publ.cmd(&[b"PUBLISH", b"other", b"x"]));
    push(publ.cmd(&[b"PUBSUB", b"NUMSUB", b"news", b"sport", b"none"]));
    push(publ.cmd(&[b"PUBSUB", b"NUMSUB"]));
    push(publ.cmd(&[b"PUBSUB", b"NUMPAT"]));
    push(publ.cmd(&[b"PUBSUB", b"CHANNELS", b"s*"]));
    push(publ.cmd(&[b"PUBSUB", b"CHANNELS", b"a", b"b"]));
    push(publ.cmd(&[b"PUBSUB", b"HELP"]));
    // RESP2 subscribed mode.
    push(sub.cmd(&[b"GET", b"k"]));
    push(sub.cmd(&[b"CONFIG", b"GET", b"port"]));
    push(sub.cmd(&[b"PING"]));
    push(sub.cmd(&[b"PING", b"msg"]));
    push(sub.cmd(&[b"UNSUBSCRIBE", b"sport", b"never"]));
    push(sub.read_reply());
    push(sub.cmd(&[b"PUNSUBSCRIBE", b"h?llo"]));
    push(sub.cmd(&[b"UNSUBSCRIBE"]));
    push(sub.cmd(&[b"PUNSUBSCRIBE"]));
    push(sub.cmd(&[b"PUNSUBSCRIBE"]));
    push(sub.cmd(&[b"UNSUBSCRIBE"]));
    push(sub.cmd(&[b"PING"]));
    push(sub.cmd(&[b"GET", b"k"]));
    // Shard channels.
    push(sub.cmd(&[b"SSUBSCRIBE", b"sh"]));
    push(publ.cmd(&[b"SPUBLISH", b"sh", b"payload"]));
    push(sub.read_reply());
    push(publ.cmd(&[b"PUBSUB", b"SHARDNUMSUB", b"sh"]));
    push(publ.cmd(&[b"PUBSUB", b"SHARDCHANNELS"]));
    push(sub.cmd(&[b"SUNSUBSCRIBE"]));
    push(sub.cmd(&[b"SUNSUBSCRIBE"]));
    // RESP3: push frames, and no command restrictions while subscribed.
    let mut s3 = RawConn::connect(port);
    s3.resp3 = true;
    s3.cmd(&[b"HELLO", b"3"]);
    push(s3.cmd(&[b"SUBSCRIBE", b"r3"]));
    push(s3.cmd(&[b"PSUBSCRIBE", b"r*"]));
    push(publ.cmd(&[b"PUBLISH", b"r3", b"v"]));
    push(s3.read_reply());
    push(s3.read_reply());
    push(s3.cmd(&[b"GET", b"k"]));
    push(s3.cmd(&[b"PING"]));
    push(s3.cmd(&[b"UNSUBSCRIBE"]));
    push(s3.cmd(&[b"PUNSUBSCRIBE"]));
    push(s3.cmd(&[b"UNSUBSCRIBE"]));
    // RESET leaves subscribed mode.
    push(sub.cmd(&[b"SUBSCRIBE", b"again"]));
    push(sub.cmd(&[b"RESET"]));
    push(sub.cmd(&[b"GET", b"k"]));
    push(publ.cmd(&[b"PUBLISH", b"again", b"x"]));
    out
}

#[test]
fn pubsub_replies_match_redis() {
    same_transcript(scenario);
}

fn info_field(conn: &mut RawConn, field: &str) -> String {
    let info = String::from_utf8_lossy(&conn.cmd(&[b"INFO", b"stats"])).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn client_list_and_info_count_subscriptions() {
    let rc = start_ringcache(&[]);
    let mut sub = RawConn::connect(rc.port);
    let mut other = RawConn::connect(rc.port);
    sub.cmd(&[b"SUBSCRIBE", b"a", b"b"]);
    sub.read_reply();
    sub.cmd(&[b"PSUBSCRIBE", b"p*"]);
    let list =
        String::from_utf8_lossy(&other.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"])).into_owned();
    assert!(list.contains("flags=P"), "{list}");
    assert!(list.contains(" sub=2 psub=1 "), "{list}");
    assert_eq!(info_field(&mut other, "pubsub_channels"), "2");
    assert_eq!(info_field(&mut other, "pubsub_patterns"), "1");
    drop(sub);
    // Disconnecting drops every subscription.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while info_field(&mut other, "pubsub_channels") != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "subscriptions not released"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(info_field(&mut other, "pubsub_patterns"), "0");
}

#[test]
fn slow_subscriber_is_disconnected_others_keep_working() {
    let rc = start_ringcache(&[]);
    let mut admin = RawConn::connect(rc.port);
    assert_eq!(
        admin.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 1mb 0 0"
        ]),
        b"+OK\r\n"
    );
    let mut slow = RawConn::connect(rc.port);
    slow.cmd(&[b"SUBSCRIBE", b"feed"]);
    let mut fast = RawConn::connect(rc.port);
    fast.cmd(&[b"SUBSCRIBE", b"feed"]);
    let payload = vec![b'x'; 64 * 1024];
    // The slow subscriber never reads: ~32 MB is far beyond socket buffers and the 1 MB limit.
    for i in 0..512 {
        let n = admin.cmd(&[b"PUBLISH", b"feed", &payload]);
        assert!(
            n.starts_with(b":"),
            "publish {i}: {:?}",
            String::from_utf8_lossy(&n)
        );
        let m = fast.read_reply();
        assert!(
            m.starts_with(b"*3\r\n$7\r\nmessage\r\n") && m.len() > payload.len(),
            "fast subscriber must get message {i}"
        );
    }
    assert_eq!(
        info_field(&mut admin, "client_output_buffer_limit_disconnections"),
        "1"
    );
    assert_eq!(admin.cmd(&[b"PUBLISH", b"feed", b"last"]), b":1\r\n");
    assert!(slow.is_closed(), "slow subscriber must be disconnected");
    assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// Under CLIENT REPLY OFF / SKIP a subscriber still gets its (un)subscribe
/// confirmations and the messages (they are pushes), as in Redis 7.0, while
/// ordinary replies stay dropped.
#[test]
fn reply_off_still_delivers_subscription_pushes() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let transcript = |port: u16| -> Vec<u8> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        s.write_all(b"CLIENT REPLY OFF\r\nPING\r\nSUBSCRIBE ch\r\nPSUBSCRIBE p*\r\n")
            .expect("send");
        std::thread::sleep(Duration::from_millis(200));
        redis_cli(port, &["PUBLISH", "ch", "one"]);
        redis_cli(port, &["PUBLISH", "px", "two"]);
        s.write_all(
            b"UNSUBSCRIBE ch\r\nPUNSUBSCRIBE p*\r\nCLIENT REPLY SKIP\r\nSUBSCRIBE c2\r\nPING\r\nCLIENT REPLY ON\r\nPING\r\n",
        )
        .expect("send");
        let mut out = Vec::new();
        let mut tmp = [0u8; 4096];
        while let Ok(n) = s.read(&mut tmp) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&tmp[..n]);
        }
        out
    };
    let want = transcript(redis.port);
    assert!(
        want.windows(9).any(|w| w == b"subscribe"),
        "{}",
        String::from_utf8_lossy(&want)
    );
    assert_eq!(
        String::from_utf8_lossy(&transcript(rc.port)),
        String::from_utf8_lossy(&want)
    );
}
