#!/usr/bin/env python3
"""CPU the exporter threads themselves use, the noise-free half of the overhead measurement:
runs loaddensity (1 worker thread, 50 users against the embedded target, every exporter on,
receivers from exporter_sink.py, Prometheus scraped every second), samples
/proc/PID/task/*/schedstat every 0.1 s and prints CPU seconds per thread name.
  bench/exporters_cpu.py [seconds=10] [binary=build/release/loaddensity]"""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "build", "release",
                                                            "loaddensity")

sink = subprocess.Popen([sys.executable, os.path.join(HERE, "exporter_sink.py")],
                        stdout=subprocess.PIPE, text=True)
try:
    ports = dict(kv.split("=") for kv in sink.stdout.readline().split())
    doc = [["LD_start_target"],
           ["LD_start_prometheus_exporter", {"port": int(ports["PROM_PORT"])}],
           ["LD_start_influxdb_sink", {"port": int(ports["INFLUX_PORT"])}],
           ["LD_start_opentelemetry_exporter",
            {"endpoint": f"http://127.0.0.1:{ports['OTLP_PORT']}", "export_interval_ms": 1000}],
           ["LD_start_statsd_sink", {"port": int(ports["STATSD_PORT"])}],
           ["LD_start_test", {"user_detail_dict": {"user": "fast_http_user"}, "user_count": 50,
                              "spawn_rate": 1000000, "test_time": seconds, "threads": 1,
                              "tasks": [{"method": "get", "request_url": "${target}/get",
                                         "name": "hello"}]}]]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    p = subprocess.Popen([binary, "-q", "run", f.name])
    last = {}
    while p.poll() is None:
        try:
            for tid in os.listdir(f"/proc/{p.pid}/task"):
                with open(f"/proc/{p.pid}/task/{tid}/comm") as c:
                    name = c.read().strip()
                with open(f"/proc/{p.pid}/task/{tid}/schedstat") as st:  # ns on the CPU
                    last[tid] = (name, int(st.read().split()[0]) / 1e9)
        except OSError:
            pass
        time.sleep(0.1)
    os.unlink(f.name)
finally:
    sink.terminate()
by_name = collections.defaultdict(float)
for name, cpu in last.values():
    by_name[name] += cpu
total = sum(by_name.values())
exporters = sum(v for k, v in by_name.items() if k in ("ld-prometheus", "ld-influxdb",
                                                        "ld-otlp", "ld-statsd"))
for name, cpu in sorted(by_name.items(), key=lambda kv: -kv[1]):
    print(f"{name:16} {cpu:10.4f} s")
print(f"exporter threads: {exporters:.4f} s of {total:.2f} s process CPU "
      f"({100 * exporters / total if total else 0:.3f}%)")
