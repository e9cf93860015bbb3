"""pymemcache against the memcached ports of a ringcache cluster: a key written
through any node is read back through every node, multi-gets span owners.

Usage: pymemcache_cluster.py PORT... Exits non-zero on the first mismatch.
"""
import sys

from pymemcache.client.base import Client

clients = [Client(("127.0.0.1", int(p)), default_noreply=False) for p in sys.argv[1:]]
assert len(clients) >= 2, "give the memcached ports of several nodes"

keys = [f"py:{i}" for i in range(60)]
for i, k in enumerate(keys):
    assert clients[i % len(clients)].set(k, f"v{i}".encode(), flags=i) is True, k

expected = {k: f"v{i}".encode() for i, k in enumerate(keys)}
for c in clients:
    for k, v in expected.items():
        assert c.get(k) == v, (k, c.get(k))
    assert c.get_many(keys + ["py:missing"]) == expected

assert clients[0].set("py:counter", b"0") is True
for i, c in enumerate(clients):
    k = keys[i]
    value, cas = c.gets(k)
    assert value == expected[k] and cas is not None
    other = clients[(i + 1) % len(clients)]
    assert other.cas(k, b"swapped", cas) is True, k
    assert c.cas(k, b"stale", cas) is False, k
    assert c.get(k) == b"swapped"
    assert other.incr("py:counter", 1) == i + 1
    assert c.delete(k) is True
    assert other.get(k) is None

print("pymemcache cluster ok")
