"""redis-py RedisCluster while slots move: usage rebalance_cluster_client.py PORT SECONDS.

Writes keys with increasing values and reads each back, following -MOVED
redirections, for SECONDS seconds; prints "ok <ops>" or raises on any error."""
import sys
import time

from redis.cluster import RedisCluster


def main() -> None:
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    last = {}
    ops = 0
    deadline = time.time() + seconds
    v = 0
    while time.time() < deadline:
        v += 1
        for i in range(100):
            k = f"rc:{i}"
            assert rc.get(k) == last.get(k), (k, last.get(k))
            assert rc.set(k, str(v)) is True
            last[k] = str(v)
            ops += 2
    print("ok", ops)


if __name__ == "__main__":
    main()
