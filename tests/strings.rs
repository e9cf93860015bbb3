//! String and keyspace commands, differential against a real redis-server.

mod common;

use common::*;

#[test]
fn string_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        SET k v
        GET k
        SET k v2 XX GET
        SET k v3 NX
        SET k v3 NX GET
        SET n 10
        INCR n
        INCRBY n -20
        DECRBY n 5
        INCRBY n 9223372036854775807
        INCR k
        SET big 9223372036854775807
        INCR big
        DECRBY n -9223372036854775808
        INCRBYFLOAT f 10.5
        INCRBYFLOAT f 0.1
        INCRBYFLOAT f 1e3
        INCRBYFLOAT k 1
        INCRBYFLOAT f abc
        SET nul 1
        SETRANGE nul 2 2
        INCRBYFLOAT nul 1
        INCRBYFLOAT f "1\x002"
        HSET hnul f "1\x002"
        HINCRBYFLOAT hnul f 1
        HINCRBYFLOAT hnul g "1\x002"
        APPEND a hello
        APPEND a " world"
        STRLEN a
        GETRANGE a 0 4
        GETRANGE a -5 -1
        GETRANGE a 5 1
        GETRANGE a -1 -5
        GETRANGE missing 0 10
        SETRANGE a 6 WORLD
        GET a
        SETRANGE pad 5 x
        GET pad
        SETRANGE a -1 x
        SETRANGE empty 0 ""
        EXISTS empty
        MSET m1 1 m2 2 m3 3
        MGET m1 m2 nosuch m3
        MSETNX m1 x new y
        MSETNX new1 x new2 y
        MSET m1
        GETSET m1 z
        GETDEL m1
        GETDEL m1
        SET e 1 EX 0
        SET e 1 PX -5
        SET e 1 EX abc
        SET e 1 EX 10 PX 10
        SET e 1 NX XX
        SET e 1 KEEPTTL EX 10
        SET e ""
        GET e
        STRLEN e
        SETEX s 0 v
        SETEX s abc v
        PSETEX s 100000 v
        SETNX s other
        SETNX s2 other
        GETEX s PERSIST
        TTL s
        GETEX s EX 100
        TTL s
        GETEX s FOO
        GETEX nosuch EX 10
        LCS a pad
        SET l1 ohmytext
        SET l2 mynewtext
        LCS l1 l2
        LCS l1 l2 LEN
        LCS l1 l2 IDX
        LCS l1 l2 IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS l1 l2 LEN IDX
        SET 123 456
        OBJECT ENCODING 123
        OBJECT ENCODING a
        OBJECT ENCODING l1
        SET longstr aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
        OBJECT ENCODING longstr
        OBJECT ENCODING nosuch
        GET
        SET k
        GETRANGE a x 1
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn keyspace_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        SET a 1
        SET b 2
        DEL a b c
        EXISTS a b
        SET a 1
        EXISTS a a a
        TYPE a
        TYPE nosuch
        EXPIRE a 100
        TTL a
        EXPIRE a 50 GT
        EXPIRE a 500 GT
        EXPIRE a 50 NX
        EXPIRE a 10 LT
        TTL a
        EXPIRE a 10 NX XX
        EXPIRE a 10 GT LT
        EXPIRE a 10 FOO
        EXPIRE a abc
        EXPIRE a 9223372036854775807
        PERSIST a
        PERSIST a
        TTL a
        PTTL nosuch
        EXPIRE nosuch 10
        EXPIRE a 0
        EXISTS a
        SET a 1
        PEXPIREAT a 1
        GET a
        EXPIRETIME nosuch
        SET c 1
        EXPIRETIME c
        EXPIREAT c 99999999999
        EXPIRETIME c
        PEXPIRETIME c
        RENAME nosuch x
        RENAME c d
        GET d
        TTL d
        RENAME d d
        RENAMENX d d
        SET e 5
        RENAMENX d e
        RENAMENX d f
        COPY f g
        COPY f g
        COPY f g REPLACE
        COPY f f
        COPY f g DB 99
        COPY f g DB 1
        SELECT 1
        GET g
        SELECT 0
        MOVE f 1
        MOVE f 1
        MOVE e 0
        MOVE e 16
        SELECT 16
        SELECT -1
        SELECT x
        DBSIZE
        TOUCH e g nosuch
        SWAPDB 0 1
        DBSIZE
        SWAPDB 0 1
        SWAPDB 0 x
        SWAPDB 0 100
        FLUSHDB
        DBSIZE
        FLUSHDB ASYNC
        FLUSHALL SYNC
        FLUSHALL FOO
        OBJECT FOO
        OBJECT REFCOUNT nosuch
        SET i 12
        OBJECT REFCOUNT i
        OBJECT FREQ i
        UNLINK i
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// The protocol admits a 512 MB key (proto-max-bulk-len), the store holds
/// one byte less: such a key is refused with an error, never truncated.
#[test]
fn key_of_512_mb_is_refused_not_truncated() {
    let rc = start_ringcache(&[]);
    // Hashing a 512 MB key takes seconds in a debug build on a loaded machine.
    let mut c = RawConn::connect(rc.port).with_read_timeout(std::time::Duration::from_secs(120));
    let key = vec![b'k'; 1 << 29];
    assert_eq!(
        c.cmd(&[b"SET", &key, b"v"]),
        b"-ERR key is too long (512 MB - 1 byte at most)\r\n"
    );
    assert_eq!(c.cmd(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(c.cmd(&[b"SET", &key[1..], b"v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"STRLEN", &key[1..]]), b":1\r\n");
}
