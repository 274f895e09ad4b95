"""Run every benchmark once, print a table, write docs/benchmarks.md and JSON.

Usage: ``make bench`` (PostgreSQL and Redis; see docs/benchmarks.md). The
run recreates the database ``tasker_bench``, starts one Celery worker with
two processes, and measures raw Celery and the engine side by side with the
same broker, worker settings and publisher (this process).
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.api_load import api_latency, list_query_counts
from bench.cases import engine_runs, raw_chain_latency, raw_throughput
from bench.config import BROKER, DB_NAME, QUICK, log
from bench.environment import machine, recreate_database
from bench.growth import measure_growth
from bench.in_process import profile_hot_path, queries_per_step, readiness_cost
from bench.measure import with_cpu
from bench.pii_cost import pii_costs
from bench.processes import Worker

# --- the run ------------------------------------------------------------------------


def main() -> None:
    began = time.perf_counter()
    log(f"recreating database {DB_NAME}")
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the throttles' shared cache
    call_command("sync_workflows", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    redis.Redis.from_url(os.environ["TASKER_BENCH_REDIS"]).flushdb()

    n = 400 if QUICK else 2000
    results: dict[str, Any] = {"machine": machine(), "quick": QUICK}
    worker = Worker()
    worker.start()
    try:
        log("raw Celery throughput")
        raw_throughput(200)  # warm-up
        results["raw_throughput"] = with_cpu(results, "raw", n, raw_throughput, n)
        log("raw Celery 4-chain latency")
        raw_chain_latency(20)
        results["raw_chain_latency"] = raw_chain_latency(60 if QUICK else 300)

        engine_runs(results, n, "", with_cpu_of=results)

        log("API latency at 20 clients")
        results["api"] = api_latency(20, 10 if QUICK else 40)
    finally:
        worker.stop()

    # The same engine runs with the worker's settles committing
    # asynchronously too (an opt-in setting; claims always do; see
    # docs/architecture.md).
    os.environ["TASKER_WORKER_SYNCHRONOUS_COMMIT"] = "off"
    worker.start()
    try:
        results["async_commit"] = {}
        engine_runs(results["async_commit"], n, " (synchronous_commit=off)")
    finally:
        worker.stop()
        del os.environ["TASKER_WORKER_SYNCHRONOUS_COMMIT"]

    log("readiness cost and SQL per step, in process")
    results["readiness"] = readiness_cost()
    results["queries_per_step"] = queries_per_step()
    results["profile"] = profile_hot_path()
    results["pii"] = pii_costs()

    worker.start()
    try:
        results["growth"] = measure_growth()
    finally:
        worker.stop()

    log("SQL queries per list request")
    results["list_queries"] = list_query_counts()
    results["seconds"] = time.perf_counter() - began
    from bench.report import write_report

    write_report(results)
    log(f"done in {results['seconds']:.0f}s")


if __name__ == "__main__":
    main()
