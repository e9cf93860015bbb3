#!/usr/bin/env python3
"""Checker of the chaos harness (scripts/chaos, issue 14).

Runs one scenario against a ringcache cluster that scripts/chaos started
with docker-compose: waits for the cluster to form, writes under load through
every node (unique keys, and overwrites of per-client keys with increasing
values), injects the scenario's fault with the docker CLI, heals it, waits for
the cluster to settle, reads every key back through every live node and
prints ONE line:

  chaos n=3 pause      PASS|FAIL lost=.. reverted=.. minority_after_fence=..
      longest_request=..s recovery=..s lost_with_dead_node=.. | details

- lost: acknowledged writes whose key reads back missing (or a unique key
  with another value), except the allowance below;
- reverted: overwrites whose key reads back an older value than the last
  acknowledged one (a newer one is fine: an unacknowledged write may land);
- minority_after_fence: writes acknowledged through a cut-off node (paused,
  partitioned, the minority of a split) later than cluster-node-timeout after
  it was cut off and before the heal started (still a minority);
- longest_request: the longest request through a node that was not itself
  cut off at the time (requests to a frozen node wait for it by nature; that
  one is shown as faulted_node_longest; a RedisCluster request counts as
  going to a cut node when the node its slot table named before the request
  or after it was cut: it first waits out its connect timeout there);
- recovery: from the start of a fault until the end of the last failed probe
  round (GET of one key in every 64th slot, pipelined, through a node that is
  not cut off; a round fails on any error reply or when it takes longer than
  cluster-node-timeout); "never"
  when the last round before the read-back still failed;
- lost_with_dead_node: keys whose slot belonged to a cut-off node when the
  fault started and whose last acknowledged write was older than the fence
  time: without replicas they may be lost (a dead node's data is gone, and a
  removed node drops what it held when it comes back).

PASS needs lost, reverted and minority_after_fence to be 0, a recovery, a
settled cluster at the end, and longest_request <= cluster-node-timeout +
0.5 s + --slack (the fail-fast bound of issue 14, plus room for a loaded
machine). --report-only prints the same line but exits 0.
Exit codes: 0 pass (or --report-only), 1 fail or harness error, 77 when the
containers' private addresses are not reachable from this host.
"""

import argparse
import subprocess
import sys
import threading
import time

import redis
import redis.cluster
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

SKIP = 77
PORT = 7000
REQUEST_TIMEOUT = 30.0  # client socket timeout: bounds every request
PROBE_TIMEOUT = 2.0
PROBE_EVERY_SLOT = 64
OVERWRITE_KEYS = 40
WORKERS_PER_NODE = 2

now = time.monotonic


class HarnessError(Exception):
    """The harness itself could not run the scenario (not a finding)."""


class Node:
    """One container: its name, the address the checker uses (client
    network) and the address the node announces to its peers."""

    def __init__(self, index, prefix, client_net, nets):
        self.index = index
        self.name = f"node{index}"
        self.container = f"{prefix}{index}"
        self.client_ip = f"{client_net}.1{index}"
        self.home = nets[0] if index <= 3 or len(nets) < 2 else nets[1]
        self.announce_ip = f"{self.home[1]}.1{index}"
        self.nets = nets  # every cluster network, (docker name, prefix)

    def ip_on(self, net):
        return f"{net[1]}.1{self.index}"


def client(node, timeout=REQUEST_TIMEOUT):
    """A plain redis-py client on one connection, with no retries, so every
    request the checker times is exactly one request on the wire."""
    return redis.Redis(
        host=node.client_ip,
        port=PORT,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 5.0),
        retry=Retry(NoBackoff(), 0),
        single_connection_client=True,
        driver_info=None,
    )


def docker(*args, timeout=90):
    res = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout
    )
    if res.returncode != 0:
        raise HarnessError(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def info(node, section="cluster info"):
    """CLUSTER INFO (or another INFO-style command) as a dict; {} when the
    node does not answer."""
    try:
        c = client(node, timeout=3.0)
        try:
            raw = c.execute_command(*section.split())
        finally:
            c.close()
    except (redis.RedisError, OSError):
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode()
    if isinstance(raw, dict):
        return {k: str(v) for k, v in raw.items()}
    out = {}
    for line in str(raw).splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def wait(cond, limit, step=0.25):
    end = now() + limit
    while now() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def unsettled(nodes, size):
    """Why the listed nodes are not settled yet (None when they are: every
    one has cluster_state ok, `size` members, every slot assigned, one epoch
    across them, no slot moving)."""
    epochs = set()
    for n in nodes:
        ci = info(n)
        if not ci:
            return f"{n.name} does not answer"
        state = (ci.get("cluster_state"), ci.get("cluster_size"), ci.get("cluster_slots_assigned"))
        if state != ("ok", str(size), "16384"):
            return f"{n.name} state/size/slots {'/'.join(map(str, state))} epoch {ci.get('cluster_current_epoch')}"
        epochs.add(ci.get("cluster_current_epoch"))
        rb = info(n, "cluster rebalance-status")
        if rb.get("rebalance_in_progress", "0") != "0":
            return f"{n.name} rebalancing ({rb.get('rebalance_slots_pending')} pending, {rb.get('rebalance_slots_importing')} importing)"
    if len(epochs) != 1:
        return f"epochs differ: {sorted(epochs)}"
    return None


def wait_settled(nodes, size, limit):
    """Settled twice in a row (half a second apart) within `limit` s;
    returns None or why not."""
    end = now() + limit
    why = None
    while now() < end:
        why = unsettled(nodes, size)
        if why is None:
            time.sleep(0.5)
            why = unsettled(nodes, size)
            if why is None:
                return None
        time.sleep(0.5)
    return why or unsettled(nodes, size)


def slot_owners(node, by_ip):
    """Slot -> node name from CLUSTER SLOTS of `node`."""
    c = client(node, timeout=5.0)
    try:
        ranges = c.execute_command("CLUSTER", "SLOTS")
    finally:
        c.close()
    owners = [None] * 16384
    for r in ranges:
        start, end, primary = r[0], r[1], r[2]
        ip = primary[0].decode() if isinstance(primary[0], bytes) else primary[0]
        for s in range(start, end + 1):
            owners[s] = by_ip.get(ip, ip)
    return owners


def probe_keys():
    """One key for every PROBE_EVERY_SLOT-th slot."""
    want = set(range(0, 16384, PROBE_EVERY_SLOT))
    keys = {}
    i = 0
    while want:
        k = f"probe:{i}"
        s = key_slot(k.encode())
        if s in want:
            keys[s] = k
            want.discard(s)
        i += 1
    return [keys[s] for s in sorted(keys)]


class Run:
    """Shared state of one scenario run: the clock, the nodes cut off now
    (the prober avoids them), the fault windows and every record."""

    def __init__(self, nodes, timeout_s):
        self.nodes = nodes
        self.t = timeout_s
        self.stop = threading.Event()
        self.down = set()
        self.windows = []  # dict(nodes=set, start, heal_start, heal_end, allow_loss)
        self.probes = []  # (start, end, ok)
        self.workers = []
        self.views = None  # what each side of a cut saw (partition, split)

    def window(self, cut, allow_loss):
        w = dict(nodes={n.name for n in cut}, start=None, heal_start=None, heal_end=None, allow_loss=allow_loss)
        self.windows.append(w)
        return w


class Worker(threading.Thread):
    """One client connected to one node: alternately writes a unique key and
    overwrites one of its own keys with its next sequence number; records
    every request (start, end, ok, node) and every acknowledged write (key,
    sequence number, start, end, node it went through)."""

    def __init__(self, run, node, wid, rate):
        super().__init__(daemon=True)
        self.run_ = run
        self.node = node
        self.wid = wid
        self.period = 1.0 / rate
        self.requests = []
        self.acks = []
        self.errors = {}

    def connect(self):
        return client(self.node)

    def route(self, conn, key):
        """The node a request for `key` is sent to, known before it is sent
        (a failed request is charged to it)."""
        return self.node.name

    def write(self, conn, key, value):
        """Sends one SET; returns the name of the node it went through."""
        conn.set(key, value)
        return self.node.name

    def run(self):
        conn = None
        seq = 0
        next_at = now()
        while not self.run_.stop.is_set():
            seq += 1
            if seq % 2:
                key = f"u:{self.wid}:{seq}"
            else:
                key = f"o:{self.wid}:{(seq // 2) % OVERWRITE_KEYS}"
            t0 = now()
            via = first = self.node.name
            try:
                if conn is None:
                    conn = self.connect()
                via = first = self.route(conn, key)
                via = self.write(conn, key, str(seq))
                t1 = now()
                # A request's time counts against a cut node if it went to
                # one first (a cluster client waits out its connect timeout
                # toward a killed node before it asks another) or last.
                self.requests.append((t0, t1, True, {first, via}))
                self.acks.append((key, seq, t0, t1, via))
            except (redis.RedisError, OSError) as e:
                t1 = now()
                self.requests.append((t0, t1, False, {first, via}))
                kind = f"{type(e).__name__}: {' '.join(str(e).split()[:3])}"
                self.errors[kind] = self.errors.get(kind, 0) + 1
                if not isinstance(e, redis.ResponseError):
                    try:
                        if conn is not None:
                            conn.close()
                    except (redis.RedisError, OSError):
                        pass
                    conn = None
                    time.sleep(0.05)
            next_at = max(next_at + self.period, now())
            time.sleep(max(0.0, next_at - now()))
        if conn is not None:
            try:
                conn.close()
            except (redis.RedisError, OSError):
                pass


class ClusterWorker(Worker):
    """The same writes through redis-py's RedisCluster: it reads CLUSTER
    SLOTS (the nodes' announced addresses on the cluster networks, which the
    host reaches through the docker bridges), sends each key to its owner and
    follows -MOVED; a write counts as going through the node the client's
    slot table named for the key."""

    def __init__(self, run, nodes, by_ip, rate):
        super().__init__(run, nodes[0], "rc", rate)
        self.nodes = nodes
        self.by_ip = by_ip

    def connect(self):
        return redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(n.client_ip, PORT) for n in self.nodes],
            socket_timeout=REQUEST_TIMEOUT,
            # Its slot-table refresh tries every startup node in turn, the
            # killed one too, whose address answers nothing on the bridge:
            # with 5 s the refresh alone made one healthy request take 5.1 s
            # (a client-side wait, not the server's fail-fast).
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
            driver_info=None,
        )

    def route(self, conn, key):
        node = conn.get_node_from_key(key)
        return self.by_ip.get(node.host, node.host) if node else "?"

    def write(self, conn, key, value):
        conn.set(key, value)
        return self.route(conn, key)


class Prober(threading.Thread):
    """GETs one key in every 64th slot, pipelined, through the first node
    not cut off, in rounds; records whether each round was fully served."""

    def __init__(self, run):
        super().__init__(daemon=True)
        self.run_ = run
        self.keys = probe_keys()

    def run(self):
        conns = {}
        while not self.run_.stop.is_set():
            node = next((n for n in self.run_.nodes if n.name not in self.run_.down), None)
            if node is None:
                time.sleep(0.2)
                continue
            t0 = now()
            ok = True
            try:
                c = conns.get(node.name) or client(node, timeout=max(PROBE_TIMEOUT, 2 * self.run_.t))
                conns[node.name] = c
                p = c.pipeline(transaction=False)
                for k in self.keys:
                    p.get(k)
                for r in p.execute(raise_on_error=False):
                    if isinstance(r, Exception):
                        ok = False
            except (redis.RedisError, OSError):
                ok = False
                c = conns.pop(node.name, None)
                if c is not None:
                    try:
                        c.close()
                    except (redis.RedisError, OSError):
                        pass
            t1 = now()
            # A slot that answers only after more than cluster-node-timeout
            # is not served either.
            self.run_.probes.append((t0, t1, ok and t1 - t0 <= self.run_.t))
            time.sleep(0.2)


def cut_networks(run, cut, rest):
    """Disconnects the nodes of `cut` from the home networks of `rest` and
    the nodes of `rest` from the home networks of `cut`; returns what to
    reconnect. With one cluster network, the cut nodes leave it."""
    done = []
    cut_homes = {n.home for n in cut}
    rest_homes = {n.home for n in rest}
    for n in cut:
        for net in n.nets:
            if net in rest_homes:
                docker("network", "disconnect", net[0], n.container)
                done.append((n, net))
    for n in rest:
        for net in n.nets:
            if net in cut_homes and net not in rest_homes:
                docker("network", "disconnect", net[0], n.container)
                done.append((n, net))
    return done


def alive_peers(node):
    """How many nodes (itself included) `node` lists as connected in
    CLUSTER NODES; "?" when it does not answer."""
    try:
        c = client(node, timeout=3.0)
        try:
            raw = c.execute_command("CLUSTER", "NODES")
        finally:
            c.close()
    except (redis.RedisError, OSError):
        return "?"
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return sum(1 for line in text.splitlines() if " connected" in line)


def reconnect(done):
    for n, net in done:
        docker("network", "connect", "--ip", n.ip_on(net), net[0], n.container)


def scenario_kill(run, nodes, victim):
    w = run.window([victim], allow_loss=True)
    run.down.add(victim.name)
    docker("kill", "-s", "KILL", victim.container)
    w["start"] = now()
    survivors = [n for n in nodes if n is not victim]
    return survivors, len(survivors), None


def scenario_pause(run, nodes, victim):
    w = run.window([victim], allow_loss=True)
    run.down.add(victim.name)
    docker("pause", victim.container)
    w["start"] = now()
    try:
        time.sleep(3 * run.t)
    finally:
        w["heal_start"] = now()
        docker("unpause", victim.container)
        w["heal_end"] = now()
    return nodes, len(nodes), w


def scenario_isolate(run, nodes, cut):
    w = run.window(cut, allow_loss=True)
    run.down.update(n.name for n in cut)
    rest = [n for n in nodes if n not in cut]
    done = cut_networks(run, cut, rest)
    w["start"] = now()
    try:
        time.sleep(2 * run.t)
        # What each side sees mid-cut: the nodes it lists as connected.
        run.views = " ".join(f"{n.name}:{alive_peers(n)}" for n in [rest[0], *cut])
        time.sleep(max(0.0, w["start"] + 4 * run.t - now()))
    finally:
        w["heal_start"] = now()
        reconnect(done)
        w["heal_end"] = now()
    return nodes, len(nodes), w


def scenario_rolling(run, nodes, settle_limit):
    """docker restart of each node in turn (SIGTERM: a graceful leave, then
    the same container starts again with its dir), waiting for the cluster
    to settle in between."""
    for n in nodes:
        w = run.window([n], allow_loss=False)
        run.down.add(n.name)
        w["start"] = now()
        w["heal_start"] = w["start"]
        docker("restart", "-t", "40", n.container, timeout=120)
        why = wait_settled(nodes, len(nodes), settle_limit)
        w["heal_end"] = now()
        run.down.discard(n.name)
        if why:
            return nodes, len(nodes), f"not settled after restarting {n.name}: {why}"
    return nodes, len(nodes), None


def read_back(node, keys):
    """GET of every key through `node`, pipelined in chunks; a value is the
    sequence number written, None for a missing key, "ERR" for an error."""
    c = client(node, timeout=REQUEST_TIMEOUT)
    out = {}
    try:
        for i in range(0, len(keys), 2000):
            chunk = keys[i : i + 2000]
            p = c.pipeline(transaction=False)
            for k in chunk:
                p.get(k)
            for k, r in zip(chunk, p.execute(raise_on_error=False)):
                if isinstance(r, Exception):
                    out[k] = "ERR"
                elif r is None:
                    out[k] = None
                else:
                    out[k] = int(r)
    finally:
        c.close()
    return out


def evaluate(run, owners_at_fault, values):
    """Counts lost / reverted / lost-with-dead-node keys for one node's
    read-back; also returns the bad keys, (category, key, sequence number,
    send and ack times, node it went through, value read)."""
    t = run.t
    last = {}  # key -> (seq, start, end, node)
    for w in run.workers:
        for key, seq, t0, t1, via in w.acks:
            if key not in last or seq > last[key][0]:
                last[key] = (seq, t0, t1, via)
    faults = [w for w in run.windows if w["allow_loss"]]
    lost = reverted = dead = errors = 0
    bad = []
    for key, (seq, t0, t1, via) in last.items():
        got = values.get(key)
        if got == "ERR":
            errors += 1
            bad.append(("read_error", key, seq, t0, t1, via, got))
            continue
        if got is not None and got >= seq and (got == seq or key.startswith("o:")):
            continue
        if any(
            via in f["nodes"]
            and t1 > f["start"] + t
            and (f["heal_start"] is None or t0 < f["heal_start"])
            for f in faults
        ):
            bad.append(("minority", key, seq, t0, t1, via, got))
            continue  # counted as a minority write
        allowed = any(
            owners_at_fault[id(f)][key_slot(key.encode())] in f["nodes"]
            and t1 < f["start"] + t
            for f in faults
        )
        if got is None and allowed:
            dead += 1
            bad.append(("lost_with_dead_node", key, seq, t0, t1, via, got))
        elif got is None or key.startswith("u:"):
            lost += 1
            bad.append(("lost", key, seq, t0, t1, via, got))
        else:
            reverted += 1
            bad.append(("reverted", key, seq, t0, t1, via, got))
    return (lost, reverted, dead, errors), bad


def minority_writes(run):
    """Writes acknowledged through a cut-off node more than the fence time
    after it was cut off and before the heal started, i.e. while it was
    still a minority: (key, seq, sent, acked, via) each. An ack after the
    heal started is no minority write: the node may have its lease again
    (a partitioned node that was never removed is granted at once; one that
    was removed rejoins first), and whether what it acknowledged is
    durable is what `lost` and `reverted` check (a request sent to the cut
    node and answered after the heal, e.g. RedisCluster's retry reaching it
    over the reconnected network, used to be counted here)."""
    found = []
    for f in run.windows:
        if not f["allow_loss"]:
            continue
        for w in run.workers:
            for key, seq, t0, t1, via in w.acks:
                if via in f["nodes"] and t1 > f["start"] + run.t and (f["heal_start"] is None or t1 < f["heal_start"]):
                    found.append((key, seq, t0, t1, via))
    return found


def latencies(run):
    healthy = faulted = 0.0
    for w in run.workers:
        for t0, t1, _ok, vias in w.requests:
            d = t1 - t0
            cut = any(
                vias & set(f["nodes"])
                and t1 >= f["start"] - 0.5
                and (f["heal_end"] is None or t0 <= f["heal_end"])
                for f in run.windows
                if f["start"] is not None
            )
            if cut:
                faulted = max(faulted, d)
            else:
                healthy = max(healthy, d)
    return healthy, faulted


def recovery(run):
    starts = sorted(f["start"] for f in run.windows if f["start"] is not None)
    if not starts:
        return 0.0
    worst = 0.0
    for t0, t1, ok in run.probes:
        if ok or t1 < starts[0]:
            continue
        since = max(s for s in starts if s <= t1)
        worst = max(worst, t1 - since)
    tail = [p for p in run.probes if p[1] > starts[-1]]
    if tail and not tail[-1][2]:
        return None
    return worst


def write_dump(path, run, owners_at_fault, bad_keys, minority_acks, label):
    """The fault windows and every bad key per read-back node, times in
    seconds from the first fault, for reading what went wrong."""
    import json

    zero = min((f["start"] for f in run.windows if f["start"] is not None), default=0.0)

    def rel(t):
        return None if t is None else round(t - zero, 3)

    windows = [
        dict(nodes=sorted(f["nodes"]), start=rel(f["start"]), heal_start=rel(f["heal_start"]),
             heal_end=rel(f["heal_end"]), allow_loss=f["allow_loss"])
        for f in run.windows
    ]
    owners = next(iter(owners_at_fault.values()), None)
    keys = {
        node: [
            dict(category=c, key=k, seq=q, sent=rel(t0), acked=rel(t1), via=via, read=got,
                 slot=key_slot(k.encode()), owner_at_fault=owners[key_slot(k.encode())] if owners else None)
            for c, k, q, t0, t1, via, got in bad
        ]
        for node, bad in bad_keys.items()
    }
    failed_probes = [(rel(t0), rel(t1)) for t0, t1, ok in run.probes if not ok]
    minority = [dict(key=k, seq=q, sent=rel(t0), acked=rel(t1), via=via, slot=key_slot(k.encode()))
                for k, q, t0, t1, via in minority_acks]
    with open(path, "w") as f:
        json.dump(dict(scenario=label.strip(), node_timeout_s=run.t, windows=windows,
                       failed_probe_rounds=failed_probes, minority_acks=minority, bad_keys=keys), f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", required=True, choices=["kill", "pause", "partition", "split", "rolling"])
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--node-timeout", type=int, default=1000, help="cluster-node-timeout of the nodes, ms")
    ap.add_argument("--container-prefix", required=True)
    ap.add_argument("--client-net", required=True, help="first three octets of the client network")
    ap.add_argument("--net-a", required=True, help="docker-name:prefix of cluster network a")
    ap.add_argument("--net-b", default=None, help="docker-name:prefix of cluster network b (nodes 4, 5)")
    ap.add_argument("--rate", type=float, default=60.0, help="writes per second per client")
    ap.add_argument("--slack", type=float, default=1.0, help="s allowed above node-timeout + 0.5 s")
    ap.add_argument("--no-cluster-client", action="store_true", help="plain clients only")
    ap.add_argument("--dump", default=None, help="write the fault windows and every bad key to this JSON file")
    ap.add_argument("--report-only", action="store_true", help="exit 0 even on FAIL")
    a = ap.parse_args()

    nets = [tuple(a.net_a.split(":", 1))]
    if a.nodes > 3 and a.net_b:
        nets.append(tuple(a.net_b.split(":", 1)))
    nodes = [Node(i, a.container_prefix, a.client_net, nets) for i in range(1, a.nodes + 1)]
    by_ip = {n.announce_ip: n.name for n in nodes}
    t = a.node_timeout / 1000.0
    run = Run(nodes, t)
    label = f"chaos n={a.nodes} {a.scenario:<9}"
    t_begin = now()

    # The host must reach the containers on the client network: a refused
    # connection proves the path (the node is not listening yet), a timeout
    # or "no route" means the bridges are not reachable from here (skip).
    reach = {"state": "unreachable"}

    def listening():
        import socket

        try:
            socket.create_connection((nodes[0].client_ip, PORT), timeout=2).close()
            return True
        except ConnectionRefusedError:
            reach["state"] = "refused"
        except OSError:
            pass
        return False

    if not wait(listening, 30, step=0.5):
        if reach["state"] == "unreachable":
            print(f"{label} skipped: {nodes[0].client_ip}:{PORT} not reachable from this host")
            return SKIP
        raise HarnessError(f"{nodes[0].name} does not listen on {nodes[0].client_ip}:{PORT} after 30 s")
    if not wait(lambda: all(
        info(n).get("cluster_size") == str(a.nodes) and info(n).get("cluster_state") == "ok" for n in nodes
    ), 120, step=0.5):
        raise HarnessError(f"the {a.nodes}-node cluster did not form within 120 s")
    why = wait_settled(nodes, a.nodes, 60)
    if why:
        raise HarnessError(f"the new cluster did not settle within 60 s: {why}")
    formed = now() - t_begin

    victim = nodes[-1]
    for n in nodes:
        for i in range(WORKERS_PER_NODE):
            run.workers.append(Worker(run, n, f"{n.name}.{i}", a.rate))
    if not a.no_cluster_client:
        run.workers.append(ClusterWorker(run, nodes, by_ip, a.rate))
    prober = Prober(run)
    for w in run.workers:
        w.start()
    prober.start()
    time.sleep(3.0)

    owners = slot_owners(nodes[0], by_ip)
    owners_at_fault = {}
    problem = None
    try:
        if a.scenario == "kill":
            alive, size, _ = scenario_kill(run, nodes, victim)
        elif a.scenario == "pause":
            alive, size, _ = scenario_pause(run, nodes, victim)
        elif a.scenario == "partition":
            alive, size, _ = scenario_isolate(run, nodes, [victim])
        elif a.scenario == "split":
            if a.nodes != 5:
                raise HarnessError("split needs 5 nodes")
            alive, size, _ = scenario_isolate(run, nodes, nodes[3:])
        else:
            alive, size, problem = scenario_rolling(run, nodes, 60)
    finally:
        for f in run.windows:
            owners_at_fault[id(f)] = owners
    fault_end = now()
    if problem is None:
        why = wait_settled(alive, size, 60)
        if why:
            problem = f"not settled within 60 s after the fault: {why}"
    run.down.clear()
    if a.scenario == "kill":
        run.down.add(victim.name)
    settle_s = now() - fault_end
    time.sleep(2.0)
    run.stop.set()
    for w in run.workers:
        w.join(REQUEST_TIMEOUT + 5)
    prober.join(PROBE_TIMEOUT + 5)
    if problem is None:
        why = wait_settled(alive, size, 20)
        if why:
            problem = f"not settled at the read-back: {why}"

    keys = sorted({k for w in run.workers for k, *_ in w.acks})
    worst = (0, 0, 0, 0)
    divergent = 0
    reads = {}
    bad_keys = {}
    for n in alive:
        reads[n.name] = read_back(n, keys)
        res, bad = evaluate(run, owners_at_fault, reads[n.name])
        worst = tuple(max(x, y) for x, y in zip(worst, res))
        bad_keys[n.name] = bad
    if len(reads) > 1:
        views = list(reads.values())
        divergent = sum(1 for k in keys if len({v.get(k) for v in views}) > 1)
    lost, reverted, dead, read_errors = worst
    minority_acks = minority_writes(run)
    minority = len(minority_acks)
    longest, faulted = latencies(run)
    rec = recovery(run)
    acked = sum(len(w.acks) for w in run.workers)
    cluster_acked = sum(len(w.acks) for w in run.workers if isinstance(w, ClusterWorker))
    failed = sum(len(w.requests) - len(w.acks) for w in run.workers)
    errs = {}
    for w in run.workers:
        for k, v in w.errors.items():
            errs[k] = errs.get(k, 0) + v
    bound = t + 0.5 + a.slack
    ok = (
        lost == 0
        and reverted == 0
        and minority == 0
        and read_errors == 0
        and rec is not None
        and problem is None
        and longest <= bound
    )
    rec_s = "never" if rec is None else f"{rec:.1f}s"
    top = ", ".join(f"{k} {v}" for k, v in sorted(errs.items(), key=lambda kv: -kv[1])[:3])
    print(
        f"{label} {'PASS' if ok else 'FAIL'} lost={lost} reverted={reverted} "
        f"minority_after_fence={minority} longest_request={longest:.2f}s recovery={rec_s} "
        f"lost_with_dead_node={dead} | acked={acked} (cluster client {cluster_acked}) failed={failed} "
        f"faulted_node_longest={faulted:.2f}s read_errors={read_errors} divergent={divergent} "
        f"formed={formed:.0f}s settled={'yes' if problem is None else 'NO'} "
        f"settle={settle_s:.1f}s bound={bound:.1f}s"
        + (f" views=[{run.views}]" if run.views else "")
        + (f" errors=[{top}]" if top else "")
        + (f" problem=[{problem}]" if problem else ""),
        flush=True,
    )
    if a.dump:
        write_dump(a.dump, run, owners_at_fault, bad_keys, minority_acks, label)
    return 0 if ok or a.report_only else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(f"chaos-check: harness error: {e}", flush=True)
        sys.exit(1)
