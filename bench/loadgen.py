"""A small HTTP load generator: N concurrent clients on keep-alive connections.

Runs as its own process (so it does not share the server's CPU accounting)
and prints one JSON line: every request's latency in milliseconds, the status
codes seen, the wall seconds and the CPU seconds this process spent while the
clients ran (so a report can show the load generator is not the bottleneck).
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("--token", required=True)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    args = parser.parse_args()
    target = urlsplit(args.url)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(args.clients)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {
            "Authorization": f"Bearer {args.token}",
            "Accept": "application/json",
        }
        if args.body is not None:
            headers["Content-Type"] = "application/json"
        mine: list[float] = []
        codes: Counter[int] = Counter()
        barrier.wait()
        for n in range(args.requests):
            body = args.body.replace("{n}", f"{index}-{n}") if args.body else None
            began = time.perf_counter()
            conn.request(
                args.method,
                target.path + (f"?{target.query}" if target.query else ""),
                body=body,
                headers=headers,
            )
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - began) * 1000)
            codes[response.status] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(codes)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    began = time.perf_counter()
    cpu_began = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    print(
        json.dumps(
            {
                "latencies_ms": latencies,
                "statuses": statuses,
                "seconds": elapsed,
                "cpu_seconds": cpu,
            }
        )
    )


if __name__ == "__main__":
    main()
