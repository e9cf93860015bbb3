"""pymemcache against ringcache's memcached port: set/get/cas/incr basics.

Usage: pymemcache_basic.py PORT. Exits non-zero on the first mismatch.
"""
import sys

from pymemcache.client.base import Client

port = int(sys.argv[1])
c = Client(("127.0.0.1", port), default_noreply=False)

assert c.set("greeting", b"hello") is True
assert c.get("greeting") == b"hello"
assert c.get_many(["greeting", "missing"]) == {"greeting": b"hello"}
assert c.add("greeting", b"again") is False
assert c.replace("greeting", b"hi") is True
assert c.append("greeting", b" there") is True
assert c.prepend("greeting", b"oh, ") is True
assert c.get("greeting") == b"oh, hi there"

value, cas = c.gets("greeting")
assert value == b"oh, hi there" and cas is not None
assert c.cas("greeting", b"swapped", cas) is True
assert c.cas("greeting", b"stale", cas) is False
assert c.get("greeting") == b"swapped"

assert c.set("n", b"41") is True
assert c.incr("n", 1) == 42
assert c.decr("n", 50) == 0
assert c.incr("missing", 1) is None
assert c.set("flagged", b"x", flags=7) is True
assert c.get("flagged") == b"x"
assert c.touch("n", 100) is True
assert c.delete("n") is True
assert c.get("n") is None
assert c.set("noreply", b"v", noreply=True) is True
assert c.get("noreply") == b"v"
stats = c.stats()
assert b"curr_items" in stats or "curr_items" in stats, stats
assert c.version().startswith(b"1.6")
assert c.flush_all() is True
assert c.get("greeting") is None
print("pymemcache ok")
