"""redis-py against a ringcache node: strings, keys, pipelines, transactions.

Usage: python3 basic.py PORT   (exit status 0 and "ok" on success)
"""
import sys

import redis


def main(port):
    r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    assert r.ping() is True
    r.flushall()
    assert r.set("s", "v") is True
    assert r.get("s") == "v"
    assert r.set("s", "w", nx=True) is None
    assert r.set("s", "w", xx=True, get=True) == "v"
    assert r.incr("n") == 1 and r.incrby("n", 41) == 42
    assert abs(r.incrbyfloat("f", 1.5) - 1.5) < 1e-9
    assert r.append("s", "xyz") == 4 and r.strlen("s") == 4
    assert r.getrange("s", 1, 2) == "xy"
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.mget(["a", "b", "nosuch"]) == ["1", "2", None]
    assert r.setex("e", 100, "v") is True and 99 <= r.ttl("e") <= 100
    assert r.pexpire("e", 5000) is True and 4000 < r.pttl("e") <= 5000
    assert r.persist("e") is True and r.ttl("e") == -1
    assert r.exists("a", "b", "nosuch") == 2
    assert r.type("a") == "string"
    assert r.rename("a", "a2") is True and r.get("a2") == "1"
    assert sorted(r.keys("*")) == sorted(["s", "n", "f", "b", "e", "a2"])
    assert sorted(r.scan_iter(match="a*")) == ["a2"]
    assert r.delete("a2", "b") == 2
    assert r.dbsize() == 4
    try:
        r.incr("s")
        raise AssertionError("INCR on a non-number must fail")
    except redis.ResponseError as e:
        assert str(e) == "value is not an integer or out of range", str(e)

    # Binary-safe values.
    rb = redis.Redis(host="127.0.0.1", port=port)
    blob = bytes(range(256))
    rb.set(b"\x00bin\xff", blob)
    assert rb.get(b"\x00bin\xff") == blob

    # Pipeline without and with a transaction.
    p = r.pipeline(transaction=False)
    for i in range(1000):
        p.set(f"p{i}", i)
    p.get("p999")
    res = p.execute()
    assert res[:1000] == [True] * 1000 and res[1000] == "999"

    p = r.pipeline(transaction=True)
    p.incr("tx").incr("tx").get("tx")
    assert p.execute() == [1, 2, "2"]

    # Optimistic locking with WATCH through redis-py's transaction helper.
    def bump(pipe):
        cur = int(pipe.get("tx"))
        pipe.multi()
        pipe.set("tx", cur + 10)

    r.transaction(bump, "tx")
    assert r.get("tx") == "12"

    # A conflicting write makes EXEC fail with WatchError.
    with r.pipeline() as pipe:
        pipe.watch("tx")
        r.set("tx", "changed")
        pipe.multi()
        pipe.set("tx", "mine")
        try:
            pipe.execute()
            raise AssertionError("EXEC must fail after a watched key changed")
        except redis.WatchError:
            pass
    assert r.get("tx") == "changed"

    info = r.info()
    assert "redis_version" in info and "used_memory" in info
    assert r.client_setname("py") is True and r.client_getname() == "py"
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}

    # RESP3 if this redis-py speaks it.
    try:
        r3 = redis.Redis(host="127.0.0.1", port=port, protocol=3, decode_responses=True)
    except TypeError:
        r3 = None
    if r3 is not None:
        assert r3.get("nosuch") is None
        assert r3.set("r3", "v") is True and r3.get("r3") == "v"
        assert r3.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    print("ok")


if __name__ == "__main__":
    main(int(sys.argv[1]))
