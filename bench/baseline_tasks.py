"""Raw Celery no-op tasks: the baseline the engine is measured against.

Each task records its completion in Redis (one INCR or SET), the cheapest
way for the benchmark to see it finish without a result backend.
"""

from __future__ import annotations

import os
import time

import redis
from celery import shared_task

_client: redis.Redis | None = None


def client() -> redis.Redis:
    """Return a Redis client for completion marks (the bench's own database)."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            os.environ.get("TASKER_BENCH_REDIS", "redis://127.0.0.1:6379/13")
        )
    return _client


@shared_task(name="bench.noop", ignore_result=True)
def noop(run_id: str) -> None:
    """Count one completion of run ``run_id``."""
    client().incr(f"bench:{run_id}")


@shared_task(name="bench.chain_link", ignore_result=True)
def chain_link(run_id: str, index: int, last: int) -> None:
    """One link of a raw chain; the last one stamps the finish time."""
    if index == last:
        client().set(f"bench:{run_id}", repr(time.time()))
