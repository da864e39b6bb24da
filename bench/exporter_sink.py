#!/usr/bin/env python3
"""Receivers for bench/http1.sh with LD_EXPORTERS=1: a UDP sink (DogStatsD and InfluxDB line
protocol), an OTLP/HTTP sink answering 200, and a scraper that GETs the Prometheus endpoint
every second. Prints the ports as shell assignments, then runs until terminated."""
import http.server
import socket
import sys
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_sink():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))

    def drain():
        while True:
            s.recv(65536)

    threading.Thread(target=drain, daemon=True).start()
    return s.getsockname()[1]


class Otlp(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    statsd, influx = udp_sink(), udp_sink()
    otlp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Otlp)
    threading.Thread(target=otlp.serve_forever, daemon=True).start()
    prom = free_port()
    print(f"STATSD_PORT={statsd} INFLUX_PORT={influx} OTLP_PORT={otlp.server_address[1]} "
          f"PROM_PORT={prom}", flush=True)
    scrapes = 0
    while True:
        time.sleep(1)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=2) as r:
                r.read()
                scrapes += 1
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main())
