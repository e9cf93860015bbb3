//! Geo commands, differential against a real redis-server: scripted cases
//! for every command and option (errors included, RESP2 and RESP3), and a
//! property test of random points and searches around the world (poles,
//! antimeridian, huge radii) whose replies must be byte-identical.

mod common;

use common::*;
use proptest::prelude::*;

/// Sicily and a few far away points, the data of the scripted cases.
const SETUP: &str = r#"
    FLUSHALL
    GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOADD Sicily 13.583333 37.316667 Agrigento 12.758489 38.788135 edge1 17.241510 38.788135 edge2
    GEOADD world 0 0 null-island 179.9 0.5 east -179.9 0.5 west 10 84.9 north 10 -84.9 south
    GEOADD world 180 85.05112878 corner -180 -85.05112878 other-corner
    SET str x
"#;

const CASES: &str = r#"
    GEOADD Sicily 13.361389 38.115556 Palermo
    GEOADD Sicily CH 13.361389 38.115556 Palermo 13.4 38.1 Palermo
    GEOADD Sicily NX 1 1 Palermo 2 2 newone
    GEOADD Sicily XX CH 13.361389 38.115556 Palermo 3 3 nothere
    GEOADD Sicily NX XX 1 1 a
    GEOADD Sicily 1 1
    GEOADD Sicily 200 100 bad
    GEOADD Sicily -180.5 0 bad
    GEOADD Sicily 0 85.06 bad
    GEOADD Sicily abc 1 bad
    GEOADD Sicily 1 1e400 bad
    GEOADD Sicily GT 1 1 a
    GEOADD Sicily 0x10 1 hex 0x1p-2 0 hex2
    GEOPOS Sicily hex hex2
    GEORADIUS Sicily 15 37 0x10 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 0x10 1e2 km
    ZREM Sicily hex hex2
    ZADD scores -5 neg 1e20 huge 0.5 half 1e19 big -inf ninf inf pinf
    GEOPOS scores neg huge half big ninf pinf
    GEOHASH scores neg huge half big ninf pinf
    GEODIST scores neg huge
    GEOADD Sicily CH CH CH
    GEOADD str 1 1 a
    GEOADD Sicily 1 1 a 200 1 b
    ZRANGE Sicily 0 -1 WITHSCORES
    ZRANGE world 0 -1 WITHSCORES
    GEOPOS Sicily Palermo Catania nosuch
    GEOPOS world corner other-corner null-island east west north south
    GEOPOS nokey a b
    GEOPOS Sicily
    GEOPOS str a
    GEOHASH Sicily Palermo Catania nosuch
    GEOHASH world corner other-corner null-island north south
    GEOHASH nokey a
    GEOHASH str a
    GEODIST Sicily Palermo Catania
    GEODIST Sicily Palermo Catania km
    GEODIST Sicily Palermo Catania MI
    GEODIST Sicily Palermo Catania ft
    GEODIST Sicily Palermo Catania m
    GEODIST Sicily Palermo Catania parsec
    GEODIST Sicily Palermo Catania km extra
    GEODIST Sicily Palermo nosuch
    GEODIST nokey a b
    GEODIST nokey a b parsec
    GEODIST str a b
    GEODIST world east west km
    GEODIST world north south
    GEORADIUS Sicily 15 37 200 km
    GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH
    GEORADIUS Sicily 15 37 200 km WITHDIST ASC
    GEORADIUS Sicily 15 37 200 km WITHDIST DESC
    GEORADIUS Sicily 15 37 200 km COUNT 1
    GEORADIUS Sicily 15 37 200 km COUNT 2 DESC WITHCOORD
    GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
    GEORADIUS Sicily 15 37 200 km ANY
    GEORADIUS Sicily 15 37 200 km COUNT 0
    GEORADIUS Sicily 15 37 200 km COUNT -1
    GEORADIUS Sicily 15 37 200 km COUNT x
    GEORADIUS Sicily 15 37 200 km COUNT
    GEORADIUS Sicily 15 37 -1 km
    GEORADIUS Sicily 15 37 abc km
    GEORADIUS Sicily 15 37 200 parsec
    GEORADIUS Sicily 200 37 200 km
    GEORADIUS Sicily 15 37 0 km
    GEORADIUS Sicily 15 37 200 km BOGUS
    GEORADIUS Sicily 15 37 100 mi WITHDIST
    GEORADIUS Sicily 15 37 300000 ft WITHDIST
    GEORADIUS Sicily 15 37 200 km STORE dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km STORE dst STOREDIST dst2
    ZRANGE dst2 0 -1 WITHSCORES
    GEORADIUS Sicily 15 37 200 km STORE dst WITHDIST
    GEORADIUS Sicily 15 37 200 km COUNT 1 STOREDIST dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUS Sicily 0 0 1 km STORE dst
    EXISTS dst
    GEORADIUS nokey 15 37 200 km
    GEORADIUS nokey 15 37 200 km STORE dst2
    EXISTS dst2
    GEORADIUS nokey 200 37 200 km
    GEORADIUS str 15 37 200 km
    GEORADIUS_RO Sicily 15 37 200 km WITHDIST
    GEORADIUS_RO Sicily 15 37 200 km STORE dst
    GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST
    GEORADIUSBYMEMBER Sicily Palermo 200 km WITHCOORD COUNT 2
    GEORADIUSBYMEMBER Sicily nosuch 200 km
    GEORADIUSBYMEMBER Sicily Palermo -5 km
    GEORADIUSBYMEMBER Sicily Palermo 200 km STORE dst
    ZRANGE dst 0 -1 WITHSCORES
    GEORADIUSBYMEMBER nokey Palermo -5 parsec
    GEORADIUSBYMEMBER nokey Palermo -5 parsec STORE dst
    EXISTS dst
    GEORADIUSBYMEMBER_RO Sicily Palermo 200 km WITHHASH
    GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STOREDIST dst
    GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHDIST WITHCOORD WITHHASH
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHDIST
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 100 km DESC WITHCOORD
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 100 400 km
    GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 200 200 mi COUNT 2 WITHDIST
    GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 200 200 mi COUNT 2 ANY
    GEOSEARCH Sicily FROMMEMBER nosuch BYRADIUS 200 km
    GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 200 km
    GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km
    GEOSEARCH Sicily BYRADIUS 200 km
    geosearch Sicily BYRADIUS 200 km ASC
    GeoSearch Sicily FROMLONLAT 15 37 ASC
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 parsec
    GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE dst
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
    GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ANY
    GEOSEARCH nokey FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH nokey FROMMEMBER Palermo BYBOX 1 1 km
    GEOSEARCH nokey FROMMEMBER Palermo
    GEOSEARCH str FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH world FROMLONLAT 179.95 0 BYRADIUS 100 km WITHDIST
    GEOSEARCH world FROMLONLAT -179.95 0 BYBOX 300 300 km WITHDIST ASC
    GEOSEARCH world FROMLONLAT 0 84 BYRADIUS 500 km WITHCOORD
    GEOSEARCH world FROMLONLAT 0 0 BYRADIUS 20000 km WITHDIST ASC
    GEOSEARCH world FROMLONLAT 0 0 BYRADIUS 20000 km
    GEOSEARCH world FROMLONLAT 0 0 BYBOX 40000 40000 km ASC
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km
    ZRANGE dst 0 -1 WITHSCORES
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST COUNT 2
    ZRANGE dst 0 -1 WITHSCORES
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
    GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
    GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
    EXISTS dst
    GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 1 km
    GEOSEARCHSTORE Sicily Sicily FROMLONLAT 15 37 BYRADIUS 100 km STOREDIST
    ZRANGE Sicily 0 -1 WITHSCORES
    GEOSEARCHSTORE str2 str FROMLONLAT 0 0 BYRADIUS 1 km
"#;

#[test]
fn geo_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(&format!("{SETUP}{CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn geo_commands_match_redis_in_resp3() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(&format!("{SETUP}{CASES}"));
    assert_same_resp3_replies(redis.port, rc.port, &s);
}

#[test]
fn geo_on_skiplist_encoding_matches_redis() {
    let args = ["--zset-max-listpack-entries", "1"];
    let redis = require_redis(&args);
    let rc = start_ringcache(&args);
    let s = script(&format!("{SETUP}OBJECT ENCODING Sicily\n{CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

/// A random geo command over three keys, with points drawn around a few
/// tricky places (equator, antimeridian, near the poles) and search radii
/// from meters to continents.
fn arb_geo_command() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["g0", "g1"]);
    let base = prop::sample::select(vec![
        (0.0, 0.0),
        (179.5, 10.0),
        (-179.5, -10.0),
        (13.0, 38.0),
        (-73.9, 40.7),
        (100.0, 83.0),
        (-60.0, -84.5),
    ]);
    let point = (base.clone(), -1.0f64..1.0, -1.0f64..1.0).prop_map(|((lon, lat), dx, dy)| {
        let lon = (lon + dx * 2.0f64).clamp(-180.0, 180.0);
        let lat = (lat + dy).clamp(-85.05, 85.05);
        format!("{lon:.6} {lat:.6}")
    });
    let member = (0u8..30).prop_map(|n| format!("m{n}"));
    let unit = prop::sample::select(vec!["m", "km", "mi", "ft"]);
    let length = prop::sample::select(vec![
        "0", "1", "50", "150", "800", "3000", "12000", "100000",
    ]);
    let order = prop::sample::select(vec![
        "",
        "ASC",
        "DESC",
        "COUNT 3",
        "COUNT 2 DESC",
        "COUNT 50 ASC",
    ]);
    let with = prop::sample::select(vec![
        "",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
        "WITHDIST WITHCOORD WITHHASH",
    ]);
    let shape = prop_oneof![
        (length.clone(), unit.clone()).prop_map(|(r, u)| format!("BYRADIUS {r} {u}")),
        (length.clone(), length.clone(), unit.clone())
            .prop_map(|(w, h, u)| format!("BYBOX {w} {h} {u}")),
    ];
    let from = prop_oneof![
        point.clone().prop_map(|p| format!("FROMLONLAT {p}")),
        member.clone().prop_map(|m| format!("FROMMEMBER {m}")),
    ];
    prop_oneof![
        6 => (key.clone(), prop::collection::vec((point.clone(), member.clone()), 1..6))
            .prop_map(|(k, pts)| {
                let body: Vec<String> = pts.iter().map(|(p, m)| format!("{p} {m}")).collect();
                format!("GEOADD {k} {}", body.join(" "))
            }),
        4 => (key.clone(), from.clone(), shape.clone(), order.clone(), with)
            .prop_map(|(k, f, s, o, w)| format!("GEOSEARCH {k} {f} {s} {o} {w}")),
        2 => (key.clone(), key.clone(), from, shape, order.clone(), any::<bool>())
            .prop_map(|(d, k, f, s, o, sd)| format!("GEOSEARCHSTORE {d} {k} {f} {s} {o} {}", if sd { "STOREDIST" } else { "" })),
        2 => (key.clone(), point, length.clone(), unit.clone(), order.clone())
            .prop_map(|(k, p, r, u, o)| format!("GEORADIUS {k} {p} {r} {u} {o} WITHDIST")),
        2 => (key.clone(), member.clone(), length, unit, order)
            .prop_map(|(k, m, r, u, o)| format!("GEORADIUSBYMEMBER {k} {m} {r} {u} {o} WITHCOORD")),
        1 => (key.clone(), member.clone(), member.clone(), prop::sample::select(vec!["m", "km"]))
            .prop_map(|(k, a, b, u)| format!("GEODIST {k} {a} {b} {u}")),
        1 => (key.clone(), member.clone(), member.clone())
            .prop_map(|(k, a, b)| format!("GEOPOS {k} {a} {b}")),
        1 => (key, member.clone(), member)
            .prop_map(|(k, a, b)| format!("GEOHASH {k} {a} {b}")),
    ]
}

#[test]
fn random_geo_sequences_match_redis() {
    random_sequences_match(
        &[],
        40,
        arb_geo_command(),
        |cmd| {
            Some((
                cmd.split_whitespace().map(String::from).collect(),
                Compare::Exact,
            ))
        },
        &["ZRANGE g0 0 -1 WITHSCORES", "ZRANGE g1 0 -1 WITHSCORES"],
    );
}

/// The first seven fields of each COMMAND INFO entry (name, arity, flags,
/// key positions, ACL categories) of `names`, from the server on `port`.
fn command_info_heads(port: u16, names: &[&str]) -> Vec<Tree> {
    let mut c = RawConn::connect(port);
    names
        .iter()
        .map(|n| {
            let reply = c.cmd(&[b"COMMAND", b"INFO", n.as_bytes()]);
            match parse_tree(&reply, &mut 0) {
                Tree::Agg(_, mut entries) if entries.len() == 1 => match entries.remove(0) {
                    Tree::Agg(tag, fields) => Tree::Agg(tag, fields.into_iter().take(7).collect()),
                    other => other,
                },
                other => other,
            }
        })
        .collect()
}

#[test]
fn geo_command_info_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let names = [
        "geoadd",
        "geopos",
        "geodist",
        "geohash",
        "georadius",
        "georadiusbymember",
        "georadius_ro",
        "georadiusbymember_ro",
        "geosearch",
        "geosearchstore",
    ];
    assert_eq!(
        command_info_heads(rc.port, &names),
        command_info_heads(redis.port, &names)
    );
    let s = script(
        "COMMAND GETKEYS GEORADIUS k 1 1 1 km STORE a STOREDIST b\n\
         COMMAND GETKEYS GEORADIUS k 1 1 1 km STOREDIST a STORE b STORE c\n\
         COMMAND GETKEYS GEORADIUS k 1 1 1 STORE\n\
         COMMAND GETKEYS GEORADIUSBYMEMBER k m 1 km STORE a\n\
         COMMAND GETKEYS GEORADIUSBYMEMBER k STORE 1 km\n\
         COMMAND GETKEYS GEOSEARCHSTORE d s FROMMEMBER m BYRADIUS 1 km",
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// In a two-node ring, geo commands on keys of either node (proxied) answer
/// like a cluster-enabled redis-server, and STORE forms across slots get
/// `-CROSSSLOT`.
#[test]
fn geo_in_cluster_matches_redis() {
    let (redis, _dir) = cluster::require_redis_cluster();
    let nodes = cluster::start_cluster(2, &[]);
    // Some keys live on the other node: node 0 proxies them.
    let tags = ["a", "b", "c", "d", "e", "f"];
    assert!(tags
        .iter()
        .any(|k| cluster::serves_key(nodes[1].port(), &format!("{{{k}}}g"))));
    let mut text = String::new();
    for k in tags {
        text.push_str(&format!(
            "GEOADD {{{k}}}g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania\n\
             GEOSEARCH {{{k}}}g FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST ASC\n\
             GEOSEARCHSTORE {{{k}}}dst {{{k}}}g FROMMEMBER Palermo BYBOX 400 400 km STOREDIST\n\
             ZRANGE {{{k}}}dst 0 -1 WITHSCORES\n\
             GEORADIUS {{{k}}}g 15 37 200 km STORE {{{k}}}dst2\n\
             GEOPOS {{{k}}}g Palermo\n"
        ));
    }
    text.push_str(
        "GEOSEARCHSTORE {a}dst {b}g FROMMEMBER Palermo BYRADIUS 1 km\n\
         GEORADIUS {a}g 15 37 200 km STORE {b}dst\n\
         GEORADIUSBYMEMBER {a}g Palermo 200 km STOREDIST {c}dst\n",
    );
    assert_same_replies(redis.port, nodes[0].port(), &script(&text));
}

/// GEOSEARCHSTORE creates a sorted set: a client blocked in BZPOPMIN on the
/// destination gets its lowest member, as with redis-server.
#[test]
fn geosearchstore_wakes_a_blocked_pop_like_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let replies = |port: u16| {
        let mut waiter = RawConn::connect(port);
        let mut c = RawConn::connect(port);
        c.cmd_str("GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania");
        waiter.send_raw(&encode(&[b"BZPOPMIN", b"dst", b"5"]));
        assert!(eventually(std::time::Duration::from_secs(5), || {
            c.cmd_str("INFO clients").contains("blocked_clients:1")
        }));
        let stored = c.cmd_str("GEOSEARCHSTORE dst g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST");
        (
            stored,
            waiter.read_reply(),
            c.cmd_str("ZRANGE dst 0 -1 WITHSCORES"),
        )
    };
    let ours = replies(rc.port);
    assert!(
        ours.1.starts_with(b"*3\r\n$3\r\ndst\r\n$7\r\nCatania\r\n"),
        "{ours:?}"
    );
    assert_eq!(ours, replies(redis.port));
}
