"""pymemcache against a memcached port that requires authentication.

Usage: pymemcache_auth.py PORT PASSWORD. pymemcache has no auth call of its
own; memcached 1.6's text-protocol exchange is a plain `set` whose value is
`<user> <password>`, which any client can send. Exits non-zero on a mismatch.
"""
import sys

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError

port, password = int(sys.argv[1]), sys.argv[2]

c = Client(("127.0.0.1", port), default_noreply=False)
try:
    c.get("k")
    raise SystemExit("get before authenticating was answered")
except MemcacheClientError as e:
    assert "unauthenticated" in str(e), e
c.close()

c = Client(("127.0.0.1", port), default_noreply=False)
assert c.set("auth", f"default {password}".encode()) is True
assert c.set("k", b"v") is True
assert c.get("k") == b"v"
print("pymemcache auth ok")
