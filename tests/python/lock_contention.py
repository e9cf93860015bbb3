"""Distributed lock pattern against a RESP server (used by tests/patterns.rs).

Five processes' worth of clients (threads with their own connections) compete
for one lock taken with SET NX PX; each holder checks no one else is inside
the critical section, records its fencing token from INCR, and releases with a
compare-and-delete script. Exits non-zero on any violation.
"""
import sys
import threading
import time
import uuid

import redis

PORT = int(sys.argv[1])
CLIENTS = 5
ROUNDS = 20

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

inside = 0
inside_lock = threading.Lock()
tokens = []
errors = []


def worker():
    global inside
    r = redis.Redis(port=PORT)
    release = r.register_script(RELEASE)
    extend = r.register_script(EXTEND)
    acquired = 0
    while acquired < ROUNDS:
        me = uuid.uuid4().hex
        if not r.set("lock:res", me, nx=True, px=5000):
            time.sleep(0.001)
            continue
        token = r.incr("lock:res:fence")
        with inside_lock:
            inside += 1
            if inside != 1:
                errors.append("two holders at once")
            tokens.append(token)
        if extend(keys=["lock:res"], args=[me, 5000]) != 1:
            errors.append("owner could not extend its lock")
        # A non-owner can neither release nor extend.
        if release(keys=["lock:res"], args=["not-the-owner"]) != 0:
            errors.append("non-owner released the lock")
        if extend(keys=["lock:res"], args=["not-the-owner", 5000]) != 0:
            errors.append("non-owner extended the lock")
        with inside_lock:
            inside -= 1
        if release(keys=["lock:res"], args=[me]) != 1:
            errors.append("owner could not release its lock")
        acquired += 1


r = redis.Redis(port=PORT)
r.delete("lock:res", "lock:res:fence")
threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if len(tokens) != CLIENTS * ROUNDS:
    errors.append(f"expected {CLIENTS * ROUNDS} acquisitions, got {len(tokens)}")
if tokens != sorted(tokens) or len(set(tokens)) != len(tokens):
    errors.append("fencing tokens are not strictly increasing in acquisition order")
if r.exists("lock:res"):
    errors.append("lock left behind")
if errors:
    print("\n".join(sorted(set(errors))))
    sys.exit(1)
print(f"ok {len(tokens)} acquisitions")
