"""redis-py RedisCluster against a ringcache cluster: usage cluster_client.py PORT.

Discovers the topology from one node (CLUSTER SLOTS), writes and reads keys on
every node directly, and checks multi-key commands with hash tags."""
import sys

from redis.cluster import RedisCluster


def main() -> None:
    port = int(sys.argv[1])
    rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
    nodes = rc.get_primaries()
    assert len(nodes) >= 3, nodes
    for i in range(200):
        assert rc.set(f"py:{i}", f"v{i}") is True
    for i in range(200):
        assert rc.get(f"py:{i}") == f"v{i}", i
    assert rc.mset({"{u}a": "1", "{u}b": "2"}) is True
    assert rc.mget("{u}a", "{u}b", "{u}c") == ["1", "2", None]
    assert rc.incr("py:counter") == 1
    # Keys really are spread over the primaries.
    per_node = [
        rc.get_redis_connection(n).dbsize() for n in nodes
    ]
    assert all(n > 0 for n in per_node), per_node
    assert rc.delete("py:0", "py:1") == 2
    print("ok", per_node)


if __name__ == "__main__":
    main()
