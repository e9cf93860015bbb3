"""Queue patterns against a RESP server (used by tests/patterns.rs).

Reliable queue: producers LPUSH jobs; each worker BLMOVEs a job from the queue
to its own processing list, handles it, then LREMs it (ack). A worker that
"crashes" leaves its job in its processing list, from where a reaper moves it
back. Every job must be handled exactly once by a worker that acked it.

Delayed jobs: ZADD by due time (ms); workers claim due jobs with a script that
pops atomically (ZRANGEBYSCORE + ZREM), so no job is claimed twice and none
before it is due.
"""
import sys
import threading
import time

import redis

PORT = int(sys.argv[1])
JOBS = 200
WORKERS = 4

r0 = redis.Redis(port=PORT)
r0.flushall()

# --- reliable queue -------------------------------------------------------
for i in range(JOBS):
    r0.lpush("queue", f"job-{i}")
# One worker takes a job and "crashes" without acking it.
crashed = r0.lmove("queue", "processing:crashed", "RIGHT", "LEFT")
assert crashed is not None

done = []
done_lock = threading.Lock()


def worker(n):
    r = redis.Redis(port=PORT)
    mine = f"processing:{n}"
    while True:
        job = r.blmove("queue", mine, 0.5, "RIGHT", "LEFT")
        if job is None:
            return
        with done_lock:
            done.append(job)
        assert r.lrem(mine, 1, job) == 1


threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
for t in threads:
    t.start()
time.sleep(0.2)
# Reaper: requeue what the crashed worker held.
while r0.lmove("processing:crashed", "queue", "RIGHT", "LEFT") is not None:
    pass
for t in threads:
    t.join()
assert len(done) == JOBS, len(done)
assert len(set(done)) == JOBS, "a job was handled twice"
assert r0.llen("queue") == 0
for n in range(WORKERS):
    assert r0.llen(f"processing:{n}") == 0

# --- delayed jobs ---------------------------------------------------------
CLAIM = r0.register_script(
    """
    local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
    if #due == 0 then return false end
    redis.call('ZREM', KEYS[1], due[1])
    return due[1]
    """
)
now = int(time.time() * 1000)
for i in range(100):
    r0.zadd("delayed", {f"d-{i}": now + (0 if i < 60 else 3_600_000)})

claimed = []
claimed_lock = threading.Lock()


def claimer():
    r = redis.Redis(port=PORT)
    script = r.register_script(CLAIM.script)
    while True:
        job = script(keys=["delayed"], args=[int(time.time() * 1000)])
        if job is None:
            return
        with claimed_lock:
            claimed.append(job)


threads = [threading.Thread(target=claimer) for _ in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert len(claimed) == 60, len(claimed)
assert len(set(claimed)) == 60, "a delayed job was claimed twice"
assert all(int(j.split(b"-")[1]) < 60 for j in claimed), "a job was claimed before it was due"
assert r0.zcard("delayed") == 40
print("ok")
