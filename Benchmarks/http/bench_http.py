#!/usr/bin/env python3
"""`make bench-http`: Tally's HTTP server beside a Hummingbird 2 peer, measured with wrk on loopback.

Both servers serve the same three routes: GET /health (small JSON), GET /bench.html (a 4 KB
static file) and POST of a 1 KB JSON body that is parsed and answered. Each row runs with 64
and 256 connections, three times per server, alternating, and reports medians and the ratio
Tally/peer. A last pair of rows holds 10,000 idle keep-alive connections open against Tally
while the active row runs again, and reports Tally's resident memory.

Benchmark tooling only: nothing in the product runs Python.
"""
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "Benchmarks", "http")
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
IDLE_CONNECTIONS = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "10000"))
# Event-loop threads for both servers alike. wrk's two threads need a core of this 2-core
# machine, so one loop per server leaves the servers the other core instead of making four
# busy threads fight over two; set BENCH_EVENT_LOOPS=2 for the servers' own defaults.
EVENT_LOOPS = int(os.environ.get("BENCH_EVENT_LOOPS", "1"))
# Tally runs as a user runs it: the default log level, so the access log is on (its lines go to
# Benchmarks/results/tally-serve.log); BENCH_TALLY_LOG_LEVEL=warning measures it with the log off.
TALLY_LOG_LEVEL = os.environ.get("BENCH_TALLY_LOG_LEVEL", "info")
TALLY_PORT, PEER_PORT = 18080, 18081
ROUTES = [
    ("GET /health", "/health", None, "/health"),
    ("GET 4 KB static file", "/bench.html", None, "/bench.html"),
    ("POST 1 KB JSON", "/bench/echo", os.path.join(HERE, "post.lua"), "/api/echo"),
]


def start(command, port, log_name):
    log = open(os.path.join(ROOT, "Benchmarks", "results", log_name), "w")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"{command[0]} did not start listening on port {port}; see Benchmarks/results/{log_name}")


def wrk(port, path, script, connections):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if script:
        command[1:1] = ["-s", script]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if errors or socket_errors:
        print(f"    warning: {errors.group(0) if errors else ''} {socket_errors.group(0) if socket_errors else ''}", flush=True)
    return rate, p99_ms


def resident_megabytes(pid):
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def open_idle_connections(port, count):
    """Opens `count` keep-alive connections, each after one answered request, and returns them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    sockets = []
    request = b"GET /health HTTP/1.1\r\nHost: bench\r\n\r\n"
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(request)
        sockets.append(connection)
    for connection in sockets:
        connection.settimeout(10)
        received = b""
        while b"\r\n\r\n" not in received:
            received += connection.recv(4096)
    return sockets


def measure(rows, label, port, path, script, connections, results):
    rates, latencies = [], []
    for _ in range(RUNS):
        rate, p99 = wrk(port, path, script, connections)
        rates.append(rate)
        latencies.append(p99)
    results[label] = (statistics.median(rates), statistics.median(latencies))


def main():
    os.makedirs(os.path.join(ROOT, "Benchmarks", "results"), exist_ok=True)
    tally_database = os.path.join(ROOT, "Benchmarks", "results", "bench-http.sqlite")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(tally_database + suffix):
            os.remove(tally_database + suffix)
    tally = start([os.path.join(ROOT, ".build", "release", "tally"), "serve", "--port", str(TALLY_PORT),
                   "--database", tally_database, "--public", os.path.join(HERE, "public"), "--benchmark-routes",
                   "--log-level", TALLY_LOG_LEVEL, "--idle-timeout", "600",
                   # wrk and the idle connections all come from 127.0.0.1, standing for many
                   # clients: the per-client share (2,000 by default) is lifted for them alone.
                   "--max-connections-per-client", "16000", "--event-loops", str(EVENT_LOOPS)], TALLY_PORT, "tally-serve.log")
    peer = start([os.path.join(ROOT, "Benchmarks", "HummingbirdPeer", ".build", "release", "HummingbirdPeer"),
                  str(PEER_PORT), os.path.join(HERE, "public"), str(EVENT_LOOPS)], PEER_PORT, "hummingbird.log")
    table = []
    try:
        for name, tally_path, script, peer_path in ROUTES:
            for connections in (64, 256):
                tally_runs, peer_runs = [], []
                # Alternate the servers so drift in the machine's state hits both alike.
                for _ in range(RUNS):
                    tally_runs.append(wrk(TALLY_PORT, tally_path, script, connections))
                    peer_runs.append(wrk(PEER_PORT, peer_path, script, connections))
                row = (f"{name}, {connections} connections",
                       statistics.median(r for r, _ in tally_runs), statistics.median(p for _, p in tally_runs),
                       statistics.median(r for r, _ in peer_runs), statistics.median(p for _, p in peer_runs))
                table.append(row)
                print(f"  {row[0]}: Tally {row[1]:.0f}/s p99 {row[2]:.2f} ms, Hummingbird {row[3]:.0f}/s p99 {row[4]:.2f} ms", flush=True)

        idle = open_idle_connections(TALLY_PORT, IDLE_CONNECTIONS)
        print(f"  holding {len(idle)} idle keep-alive connections to Tally", flush=True)
        for connections in (64, 256):
            runs = [wrk(TALLY_PORT, "/health", None, connections) for _ in range(RUNS)]
            rss, peak = resident_megabytes(tally.pid)
            row = (f"GET /health, {connections} connections + {len(idle)} idle",
                   statistics.median(r for r, _ in runs), statistics.median(p for _, p in runs), None, None)
            table.append(row)
            print(f"  {row[0]}: Tally {row[1]:.0f}/s p99 {row[2]:.2f} ms, RSS {rss:.0f} MB (peak {peak:.0f} MB)", flush=True)
        still_open = sum(1 for connection in idle if connection.fileno() >= 0)
        for connection in idle:
            connection.close()
    finally:
        tally.terminate()
        peer.terminate()
        tally.wait(timeout=30)
        peer.wait(timeout=30)

    lines = [
        f"wrk, 2 threads, {SECONDS} s per run, median of {RUNS} runs, loopback, on {os.cpu_count()} cores shared by client and servers; "
        f"{EVENT_LOOPS} event-loop thread(s) for each server; Tally at log level {TALLY_LOG_LEVEL} "
        f"({'access log on, as a user runs it' if TALLY_LOG_LEVEL in ('trace', 'debug', 'info') else 'access log off'}), the peer as a Hummingbird user writes it (no line per request).",
        "",
        "| row | Tally req/s | Tally p99 ms | Hummingbird req/s | Hummingbird p99 ms | ratio Tally/Hummingbird |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, tally_rate, tally_p99, peer_rate, peer_p99 in table:
        if peer_rate is None:
            lines.append(f"| {label} | {tally_rate:.0f} | {tally_p99:.2f} | – | – | – |")
        else:
            lines.append(f"| {label} | {tally_rate:.0f} | {tally_p99:.2f} | {peer_rate:.0f} | {peer_p99:.2f} | {tally_rate / peer_rate:.2f} |")
    lines.append("")
    lines.append(f"Tally's resident memory with {IDLE_CONNECTIONS} idle connections held open: {rss:.0f} MB (peak {peak:.0f} MB).")
    report = "\n".join(lines)
    print()
    print(report)
    with open(os.path.join(ROOT, "Benchmarks", "results", "http.md"), "w") as output:
        output.write(report + "\n")


if __name__ == "__main__":
    main()
