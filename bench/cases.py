"""Throughput and latency cases: raw Celery and the engine, on the same worker."""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.config import QUEUE, QUICK, log
from bench.measure import summarize, with_cpu

# --- raw Celery --------------------------------------------------------------------


def raw_throughput(count: int) -> dict[str, float]:
    from bench.baseline_tasks import client, noop

    run = uuid.uuid4().hex
    started = time.perf_counter()
    for _ in range(count):
        noop.apply_async(args=[run], queue=QUEUE)
    while int(client().get(f"bench:{run}") or 0) < count:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    return {"tasks": count, "seconds": elapsed, "per_second": count / elapsed}


def raw_chain_latency(runs: int) -> dict[str, float]:
    from celery import chain

    from bench.baseline_tasks import chain_link, client

    latencies = []
    for _ in range(runs):
        run = uuid.uuid4().hex
        links = [chain_link.si(run, i, 3).set(queue=QUEUE) for i in range(4)]
        started = time.time()
        chain(*links).apply_async()
        while (stamp := client().get(f"bench:{run}")) is None:
            time.sleep(0.0005)
        latencies.append((float(stamp) - started) * 1000)
    return summarize(latencies)


# --- the engine ----------------------------------------------------------------------


def start(workflow: str, actor: Any, reason: str) -> Any:
    from workflows.services import task_start

    return task_start(
        namespace="bench", workflow=workflow, context={}, actor=actor, reason=reason
    )


def quiesce_database() -> None:
    """Vacuum the engine's tables and checkpoint before a timed run (untimed).

    Each run leaves thousands of dead row versions and a WAL backlog; without
    this the next run competes with autovacuum and the checkpointer, and its
    commits wait behind their writes.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) workflows_task, workflows_step, workflows_stepedge, "
            "workflows_steptransition, workflows_tasktransition, audit_auditevent"
        )
        cursor.execute("CHECKPOINT")


def run_began(ids: list[Any]) -> Any:
    """Return the creation time of the first of ``ids`` (a run's first task)."""
    from workflows.models import Task

    return Task.objects.filter(pk__in=ids[:1]).values_list("created_at", flat=True)[0]


def engine_throughput(
    workflow: str, tasks: int, steps_per_task: int, batch: int = 100
) -> dict[str, float]:
    """Start ``tasks`` tasks (``task_start_many``, ``batch`` at a time); time them.

    The clock runs from the first start to the last task complete, so the
    starting is counted; the workers run while the later batches start.
    """
    from django.db.models import Max

    from tasker_project.core.actors import Actor
    from workflows.models import Task
    from workflows.services import task_start_many

    actor = Actor.system_actor("bench")
    run = uuid.uuid4().hex
    ids: list[Any] = []
    quiesce_database()
    wall_start = time.time()
    started = time.perf_counter()
    for offset in range(0, tasks, batch):
        size = min(batch, tasks - offset)
        ids.extend(
            task.pk
            for task in task_start_many(
                namespace="bench",
                workflow=workflow,
                contexts=[{}] * size,
                actor=actor,
                reason=run,
            )
        )
    published = time.perf_counter() - started
    # Poll cheaply (an index range of this run's unfinished tasks) and take
    # the end from the database's completion stamps, so the polling neither
    # loads the machine nor rounds the time up.
    mine = Task.objects.filter(namespace__slug="bench", created_at__gte=run_began(ids))
    while mine.filter(status="in_progress").exists():
        if mine.filter(status="failed").exists():
            raise RuntimeError(f"a {workflow} task failed")
        time.sleep(0.05)
    if mine.exclude(status="complete").exists():
        raise RuntimeError(f"a {workflow} task did not complete")
    last = Task.objects.filter(pk__in=ids).aggregate(last=Max("completed_at"))["last"]
    elapsed = last.timestamp() - wall_start
    steps = tasks * steps_per_task
    return {
        "tasks": tasks,
        "steps": steps,
        "seconds": elapsed,
        "start_seconds": published,
        "steps_per_second": steps / elapsed,
    }


def engine_latency(runs: int) -> dict[str, float]:
    from tasker_project.core.actors import Actor
    from workflows.models import Task

    actor = Actor.system_actor("bench")
    latencies = []
    for _ in range(runs):
        started = time.time()
        task = start("linear_4", actor, "latency")
        while True:
            row = Task.objects.filter(pk=task.pk).values("status", "completed_at").get()
            if row["status"] == "complete":
                break
            if row["status"] == "failed":
                raise RuntimeError("a linear_4 task failed")
            time.sleep(0.002)
        completed_at = row["completed_at"]
        if completed_at is None:  # the engine sets it with every terminal status
            raise RuntimeError("a complete linear_4 task has no completed_at")
        latencies.append((completed_at.timestamp() - started) * 1000)
    return summarize(latencies)


def engine_runs(
    out: dict[str, Any], n: int, label: str, with_cpu_of: dict[str, Any] | None = None
) -> None:
    """Measure engine throughput (a), (b), (c) and linear-4 latency into ``out``."""
    cpu_out = with_cpu_of if with_cpu_of is not None else {}
    log(f"engine (a) independent 1-step tasks{label}")
    engine_throughput("noop_1", 50, 1)  # warm-up
    out["engine_a"] = with_cpu(
        cpu_out, "engine_a", n, engine_throughput, "noop_1", n, 1
    )
    log(f"engine (b) 10-step chains{label}")
    out["engine_b"] = with_cpu(
        cpu_out, "engine_b", n, engine_throughput, "chain_10", n // 10, 10
    )
    log(f"engine (c) one 1,000-step fan-out/fan-in{label}")
    out["engine_c"] = with_cpu(
        cpu_out, "engine_c", 1000, engine_throughput, "fan_1000", 1, 1000
    )
    log(f"engine linear-4 latency{label}")
    out["engine_latency"] = engine_latency(60 if QUICK else 300)
