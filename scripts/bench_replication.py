#!/usr/bin/env python3
"""Replication benchmark: a ringcache primary/replica pair and a redis-server
pair started side by side on this machine, measured in the same run.

- replication lag: time from a primary's SET reply to the replica's GET
  returning the new value (polled), p50/p99;
- WAIT 1 0 latency after a SET, p50/p99;
- full sync time of N keys (REPLICAOF until the replica's link is up and it
  holds N keys).

Usage: scripts/bench_replication.py [path/to/ringcache] [samples] [sync_keys]
"""

import os
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if line[:1] == b"*":
            return [self.reply() for _ in range(int(line[1:]))]
        return line

    def cmd(self, *args):
        self.send(*args)
        return self.reply()


def start(argv, port):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(500):
        try:
            if Conn(port).cmd("PING") == b"+PONG":
                return p
        except OSError:
            time.sleep(0.02)
    raise SystemExit("server on %d did not start" % port)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def info(c, field):
    text = c.cmd("INFO", "replication").decode()
    for l in text.split("\r\n"):
        if l.startswith(field + ":"):
            return l.split(":", 1)[1]
    return None


def attach(replica, primary_port):
    replica.cmd("REPLICAOF", "127.0.0.1", primary_port)
    while info(replica, "master_link_status") != "up":
        time.sleep(0.005)


def measure_pair(name, start_server, samples, sync_keys):
    pp, rp = free_port(), free_port()
    procs = [start_server(pp), start_server(rp)]
    try:
        p, r = Conn(pp), Conn(rp)
        attach(r, pp)
        lag = []
        for i in range(samples):
            p.cmd("SET", "lagkey", i)
            t0 = time.perf_counter()
            want = str(i).encode()
            while r.cmd("GET", "lagkey") != want:
                pass
            lag.append((time.perf_counter() - t0) * 1e6)
        wait = []
        for i in range(samples):
            p.cmd("SET", "waitkey", i)
            t0 = time.perf_counter()
            n = p.cmd("WAIT", 1, 0)
            wait.append((time.perf_counter() - t0) * 1e6)
            assert n == b":1", n
        r.cmd("REPLICAOF", "NO", "ONE")
        # Full sync of sync_keys keys (100-byte values), pipelined load.
        p.cmd("FLUSHALL")
        batch = 1000
        for base in range(0, sync_keys, batch):
            for i in range(base, min(base + batch, sync_keys)):
                p.send("SET", "key:%d" % i, "v" * 100)
            for i in range(base, min(base + batch, sync_keys)):
                p.reply()
        t0 = time.perf_counter()
        attach(r, pp)
        while int(r.cmd("DBSIZE")[1:]) != sync_keys:
            time.sleep(0.005)
        sync_ms = (time.perf_counter() - t0) * 1e3
        print(
            "%-10s lag p50 %7.1f us  p99 %7.1f us | WAIT 1 0 p50 %7.1f us  p99 %7.1f us | full sync %d keys %7.1f ms"
            % (name, pct(lag, 0.5), pct(lag, 0.99), pct(wait, 0.5), pct(wait, 0.99), sync_keys, sync_ms)
        )
    finally:
        for pr in procs:
            pr.kill()
            pr.wait()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/ringcache"
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    sync_keys = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
    tmp = os.environ.get("TMPDIR", "/tmp")

    def ringcache(port):
        return start([binary, "--port", str(port), "--memcached-port", "0"], port)

    def redis(port):
        return start(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--repl-diskless-sync-delay", "0",
             "--dir", tmp, "--dbfilename", "bench-%d.rdb" % port],
            port,
        )

    measure_pair("ringcache", ringcache, samples, sync_keys)
    measure_pair("redis", redis, samples, sync_keys)


if __name__ == "__main__":
    main()
