#!/usr/bin/env python3
"""The loaddensity master's CPU cost per worker stats message (a benchmark, not a test).

Starts `loaddensity master` (binary: argv[1], default build/release/loaddensity), connects
WORKERS scripted pyzmq workers (DEALER, Locust's messages in msgpack), lets the master spawn,
then has each worker send MESSAGES stats messages in Locust's shape with NAMES names each
(30 response-time buckets, 3 per-second counts, one error per name). A final "exception" message
marks the end: once the master prints it, every stats message before it was merged. Prints the
master's CPU time (user + system, /proc/PID/stat) per stats message.
    /usr/bin/python3 bench/distributed_master_cpu.py [binary] [messages=20000] [names=10] [workers=2]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

BIN = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else "build/release/loaddensity")
MESSAGES = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
NAMES = int(sys.argv[3]) if len(sys.argv) > 3 else 10
WORKERS = int(sys.argv[4]) if len(sys.argv) > 4 else 2


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats_message(now):
    entries, errors = [], {}
    for i in range(NAMES):
        name = f"/api/{i}"
        entries.append({
            "name": name, "method": "GET", "last_request_timestamp": now, "start_time": now - 3,
            "num_requests": 3000, "num_none_requests": 0, "num_failures": 30,
            "total_response_time": 45000.0, "max_response_time": 250.0,
            "min_response_time": 1.0, "total_content_length": 3000 * 512,
            "response_times": {ms: 100 for ms in list(range(1, 21)) + list(range(100, 200, 10))},
            "num_reqs_per_sec": {int(now) - 2: 1000, int(now) - 1: 1000, int(now): 1000},
            "num_fail_per_sec": {int(now): 30}})
        errors[f"GET.{name}.http_status"] = {"name": name, "method": "GET",
                                             "error": "http_status", "occurrences": 30}
    return {"stats": entries, "stats_total": entries[0], "errors": errors,
            "user_count": 10, "user_classes_count": {"LoadDensityUser": 10}}


def main():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tempfile.mkdtemp(prefix="ld-bench-master-")
    doc = os.path.join(work, "master.json")
    with open(doc, "w") as f:
        json.dump([["LD_start_test", {
            "user_detail_dict": {"user": "fast_http_user"}, "user_count": 10 * WORKERS,
            "spawn_rate": 1000, "test_time": 3600,
            "tasks": [{"method": "get", "request_url": "http://127.0.0.1:1/", "name": "/"}]}]], f)
    master = subprocess.Popen(
        [BIN, "master", "--bind-host", "127.0.0.1", "--bind-port", str(port),
         "--expected-workers", str(WORKERS), "-q", doc],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    socks = []
    try:
        for w in range(WORKERS):
            s = ctx.socket(zmq.DEALER)
            node = f"bench_{w}"
            s.setsockopt(zmq.IDENTITY, node.encode())
            s.setsockopt(zmq.SNDHWM, 0)
            s.connect(f"tcp://127.0.0.1:{port}")
            s.send(msgpack.dumps(("client_ready", -1, node)))
            socks.append((s, node))
        for s, node in socks:  # ack, then the spawn
            for want in ("ack", "spawn"):
                while True:
                    mtype, _, _ = msgpack.loads(s.recv(), raw=False, strict_map_key=False)
                    if mtype == want:
                        break
        payloads = [msgpack.dumps(("stats", stats_message(time.time()), node)) for _, node in socks]
        before = cpu_seconds(master.pid)
        start = time.monotonic()
        sent = 0
        while sent < MESSAGES:
            for (s, node), payload in zip(socks, payloads):
                s.send(payload)
                sent += 1
                if sent % 500 == 0:
                    s.send(msgpack.dumps(("heartbeat", {"state": "running",
                                                        "current_cpu_usage": 1.0,
                                                        "current_memory_usage": 1 << 20}, node)))
        socks[0][0].send(msgpack.dumps(("exception", {"msg": "bench marker", "traceback": ""},
                                        socks[0][1])))
        for line in master.stderr:
            if "bench marker" in line:
                break
        cpu = cpu_seconds(master.pid) - before
        wall = time.monotonic() - start
        size = len(payloads[0])
        print(f"{sent} stats messages ({NAMES} names, {size} bytes each) from {WORKERS} "
              f"workers: master CPU {cpu:.2f} s over {wall:.2f} s wall, "
              f"{cpu / sent * 1e6:.1f} us CPU per message")
    finally:
        master.kill()
        master.wait()
        for s, _ in socks:
            s.close(linger=0)
        ctx.term()
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)


if __name__ == "__main__":
    main()
