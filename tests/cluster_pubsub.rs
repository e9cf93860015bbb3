//! Pub/Sub in a cluster of three real nodes: PUBLISH reaches subscribers on
//! every node (the reply counts the publishing node's receivers, as in Redis
//! Cluster), SPUBLISH and SSUBSCRIBE go to the shard channel's slot owner,
//! PUBSUB SHARDCHANNELS / SHARDNUMSUB stay local.

mod common;

use std::time::Duration;

use common::*;

/// A shard channel name whose slot the node on `port` owns (or does not
/// own): SSUBSCRIBE answers -MOVED for channels owned elsewhere.
fn channel_owned(port: u16, owned: bool) -> String {
    for i in 0..1000 {
        let ch = format!("shard:{i}");
        let mut c = RawConn::connect(port);
        let r = c.cmd(&[b"SSUBSCRIBE", ch.as_bytes()]);
        if r.starts_with(b"-MOVED") != owned {
            return ch;
        }
    }
    panic!("no channel found");
}

/// Reads one pushed message (`message`/`pmessage`/`smessage`) as text.
fn next_message(c: &mut RawConn) -> String {
    String::from_utf8_lossy(&c.read_reply()).into_owned()
}

#[test]
fn publish_reaches_subscribers_on_every_node() {
    let nodes = common::cluster::start_cluster(3, &[]);
    let ports: Vec<u16> = nodes.iter().map(|n| n.proc.port).collect();
    // Two subscribers on node A (one by pattern), one on node C.
    let mut sub_a = RawConn::connect(ports[0]);
    assert!(sub_a.cmd(&[b"SUBSCRIBE", b"news"]).starts_with(b"*3"));
    let mut psub_a = RawConn::connect(ports[0]);
    assert!(psub_a.cmd(&[b"PSUBSCRIBE", b"ne*"]).starts_with(b"*3"));
    let mut sub_c = RawConn::connect(ports[2]);
    assert!(sub_c.cmd(&[b"SUBSCRIBE", b"news"]).starts_with(b"*3"));
    // Published on B (no local receiver): the reply counts B's receivers only.
    let mut pub_b = RawConn::connect(ports[1]);
    assert_eq!(pub_b.cmd(&[b"PUBLISH", b"news", b"from-b"]), b":0\r\n");
    let msg = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$6\r\nfrom-b\r\n";
    assert_eq!(next_message(&mut sub_a), msg);
    assert_eq!(next_message(&mut sub_c), msg);
    assert_eq!(
        next_message(&mut psub_a),
        "*4\r\n$8\r\npmessage\r\n$3\r\nne*\r\n$4\r\nnews\r\n$6\r\nfrom-b\r\n"
    );
    // Published on C: C's own subscriber counts, A's get it too, in order.
    let mut pub_c = RawConn::connect(ports[2]);
    for i in 0..50 {
        let m = format!("c-{i}");
        assert_eq!(pub_c.cmd(&[b"PUBLISH", b"news", m.as_bytes()]), b":1\r\n");
    }
    for i in 0..50 {
        let m = format!("c-{i}");
        let want = format!(
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\n{m}\r\n",
            m.len()
        );
        assert_eq!(next_message(&mut sub_a), want);
        assert_eq!(next_message(&mut sub_c), want);
    }
    // PUBLISH from scripts, whichever node runs them (keys owned elsewhere
    // are proxied to their owner), reaches every node too.
    let mut got = Vec::new();
    let mut want = Vec::new();
    for i in 0..12 {
        let key = format!("k{i}");
        let r = pub_b.cmd(&[
            b"EVAL",
            b"return redis.call('PUBLISH', 'news', KEYS[1])",
            b"1",
            key.as_bytes(),
        ]);
        assert!(r.starts_with(b":"), "{r:?}");
        want.push(format!(
            "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\n{key}\r\n",
            key.len()
        ));
    }
    for _ in 0..12 {
        got.push(next_message(&mut sub_a));
        next_message(&mut sub_c);
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // A message is delivered once per subscriber: nothing else is pending.
    assert_eq!(pub_c.cmd(&[b"PUBLISH", b"other", b"x"]), b":0\r\n");
    sub_a.send_raw(&encode(&[b"PING"]));
    assert_eq!(next_message(&mut sub_a), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // PUBSUB NUMSUB is local, as in Redis Cluster.
    assert_eq!(
        pub_b.cmd(&[b"PUBSUB", b"NUMSUB", b"news"]),
        b"*2\r\n$4\r\nnews\r\n:0\r\n"
    );
    // redis-cli as a subscriber on A sees a message published on C.
    let port_a = ports[0].to_string();
    let child = std::process::Command::new("redis-cli")
        .args(["-p", &port_a, "SUBSCRIBE", "cli"])
        .stdout(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut child) = child {
        let mut probe = RawConn::connect(ports[0]);
        assert!(eventually(Duration::from_secs(10), || {
            probe.cmd(&[b"PUBSUB", b"NUMSUB", b"cli"]) == b"*2\r\n$3\r\ncli\r\n:1\r\n"
        }));
        pub_c.cmd(&[b"PUBLISH", b"cli", b"hello-cli"]);
        std::thread::sleep(Duration::from_millis(500));
        let _ = child.kill();
        let out = child.wait_with_output().expect("redis-cli output");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("hello-cli"), "{text}");
    }
}

#[test]
fn shard_channels_live_on_the_slot_owner() {
    let nodes = common::cluster::start_cluster(3, &["--cluster-redirect", "no"]);
    let ports: Vec<u16> = nodes.iter().map(|n| n.proc.port).collect();
    let local = channel_owned(ports[0], true);
    let remote = channel_owned(ports[0], false);
    // SSUBSCRIBE to a channel owned elsewhere: -MOVED even in proxy mode.
    let mut sub = RawConn::connect(ports[0]);
    let moved = String::from_utf8_lossy(&sub.cmd(&[b"SSUBSCRIBE", remote.as_bytes()])).into_owned();
    assert!(moved.starts_with("-MOVED "), "{moved}");
    let mut cross = RawConn::connect(ports[0]);
    let both = cross.cmd(&[b"SSUBSCRIBE", local.as_bytes(), remote.as_bytes()]);
    assert!(
        both.starts_with(b"-CROSSSLOT") || both.starts_with(b"-MOVED"),
        "{both:?}"
    );
    // Follow the redirect, like a cluster client.
    let owner: u16 = moved
        .trim_end()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in MOVED");
    let mut owner_sub = RawConn::connect(owner);
    let confirm = owner_sub.cmd(&[b"SSUBSCRIBE", remote.as_bytes()]);
    assert_eq!(
        confirm,
        format!(
            "*3\r\n$10\r\nssubscribe\r\n${}\r\n{remote}\r\n:1\r\n",
            remote.len()
        )
        .into_bytes()
    );
    assert_eq!(
        sub.cmd(&[b"SSUBSCRIBE", local.as_bytes()]).first(),
        Some(&b'*')
    );
    // SPUBLISH from every node reaches the owner's subscriber (proxied in
    // this mode); the reply is the owner's receiver count.
    for (i, &p) in ports.iter().enumerate() {
        let mut c = RawConn::connect(p);
        let m = format!("m{i}");
        assert_eq!(
            c.cmd(&[b"SPUBLISH", remote.as_bytes(), m.as_bytes()]),
            b":1\r\n"
        );
        assert_eq!(
            next_message(&mut owner_sub),
            format!(
                "*3\r\n$8\r\nsmessage\r\n${}\r\n{remote}\r\n$2\r\n{m}\r\n",
                remote.len()
            )
        );
    }
    // Shard messages are not fanned out: the node-A subscriber of `local`
    // sees only messages for `local`.
    let mut c = RawConn::connect(ports[2]);
    assert_eq!(c.cmd(&[b"SPUBLISH", local.as_bytes(), b"here"]), b":1\r\n");
    assert_eq!(
        next_message(&mut sub),
        format!(
            "*3\r\n$8\r\nsmessage\r\n${}\r\n{local}\r\n$4\r\nhere\r\n",
            local.len()
        )
    );
    // PUBSUB SHARDCHANNELS / SHARDNUMSUB answer for the node asked.
    let mut a = RawConn::connect(ports[0]);
    assert_eq!(
        a.cmd(&[b"PUBSUB", b"SHARDCHANNELS"]),
        format!("*1\r\n${}\r\n{local}\r\n", local.len()).into_bytes()
    );
    let mut o = RawConn::connect(owner);
    assert_eq!(
        o.cmd(&[b"PUBSUB", b"SHARDNUMSUB", remote.as_bytes()]),
        format!("*2\r\n${}\r\n{remote}\r\n:1\r\n", remote.len()).into_bytes()
    );
    // With redirects on, SPUBLISH to a remote slot answers -MOVED.
    assert_eq!(
        a.cmd(&[b"CONFIG", b"SET", b"cluster-redirect", b"yes"]),
        b"+OK\r\n"
    );
    let r = a.cmd(&[b"SPUBLISH", remote.as_bytes(), b"x"]);
    assert!(r.starts_with(b"-MOVED "), "{r:?}");
}

/// A node joins and takes slots: the old owners' shard-channel subscribers
/// get `sunsubscribe` for exactly the channels whose slot moved (with the
/// count of what they still hold), like Redis Cluster, so they subscribe
/// again where SPUBLISH now goes; the others keep theirs.
#[test]
fn moved_shard_channels_are_unsubscribed() {
    let mut nodes = common::cluster::start_cluster(3, &[]);
    let channels: Vec<String> = (0..300).map(|i| format!("shard:{i}")).collect();
    // One subscriber per node, to every channel that node owns.
    let mut subs = Vec::new();
    for n in &nodes {
        let mut c = RawConn::connect(n.proc.port);
        let mut owned = Vec::new();
        for ch in &channels {
            if c.cmd(&[b"SSUBSCRIBE", ch.as_bytes()]).first() == Some(&b'*') {
                owned.push(ch.clone());
            }
        }
        subs.push((c, owned));
    }
    assert_eq!(
        subs.iter().map(|s| s.1.len()).sum::<usize>(),
        channels.len()
    );
    let seed = format!("127.0.0.1:{}", nodes[0].proc.port);
    let tmp = common::cluster::tmp();
    nodes.push(common::cluster::start_node(
        tmp,
        free_port(),
        &["--join", seed.as_str()],
    ));
    common::cluster::wait_converged(&nodes, 4);
    common::cluster::wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(30));
    // The channels the newcomer serves now.
    let mut probe = RawConn::connect(nodes[3].proc.port);
    let moved: Vec<&String> = channels
        .iter()
        .filter(|ch| probe.cmd(&[b"SSUBSCRIBE", ch.as_bytes()]).first() == Some(&b'*'))
        .collect();
    assert!(!moved.is_empty(), "the newcomer took no channel's slot");
    for (c, owned) in &mut subs {
        let mut want: Vec<&String> = owned.iter().filter(|ch| moved.contains(ch)).collect();
        let mut left = owned.len();
        let mut got = Vec::new();
        for _ in 0..want.len() {
            let r = String::from_utf8_lossy(&c.read_reply()).into_owned();
            let parts: Vec<&str> = r.split("\r\n").collect();
            assert_eq!(parts[2], "sunsubscribe", "{r}");
            left -= 1;
            assert_eq!(parts[5], format!(":{left}"), "{r}");
            got.push(parts[4].to_string());
        }
        got.sort();
        want.sort();
        assert_eq!(got.iter().collect::<Vec<_>>(), want);
        // Nothing else queued: the next reply is PING's.
        assert_eq!(c.cmd(&[b"PING"]), b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    }
}
