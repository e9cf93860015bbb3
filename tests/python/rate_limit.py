"""Fixed-window rate limiter (INCR + EXPIRE) against a RESP server (used by
tests/patterns.rs): 3 clients make 50 requests each against a limit of 100 per
window; exactly 100 must be allowed and the counter must carry a TTL.
"""
import sys
import threading

import redis

PORT = int(sys.argv[1])
LIMIT = 100
WINDOW = 60

allowed = []
allowed_lock = threading.Lock()


def allow(r, user):
    key = f"rate:{user}"
    pipe = r.pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, WINDOW, nx=True)
    count, _ = pipe.execute()
    return count <= LIMIT


def worker():
    r = redis.Redis(port=PORT)
    n = sum(1 for _ in range(50) if allow(r, "alice"))
    with allowed_lock:
        allowed.append(n)


r = redis.Redis(port=PORT)
r.delete("rate:alice")
threads = [threading.Thread(target=worker) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
errors = []
if sum(allowed) != LIMIT:
    errors.append(f"allowed {sum(allowed)} requests, expected {LIMIT}")
if int(r.get("rate:alice")) != 150:
    errors.append(f"counter is {r.get('rate:alice')}, expected 150")
ttl = r.ttl("rate:alice")
if not 0 < ttl <= WINDOW:
    errors.append(f"counter ttl is {ttl}")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok allowed {sum(allowed)}")
