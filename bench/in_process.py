"""Engine measures taken in this process, without the worker.

The per-step cost, readiness on a wide fan-out, SQL statements per step and
a profile of the hot path.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.cases import quiesce_database, start
from bench.config import BROKER
from bench.measure import percentile


def step_cost(
    count: int, workflow: str = "noop_1", context: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Time the engine's per-step work alone: claim, run, settle, in this process.

    The tasks (of 1-step ``workflow``, each with ``context``) are started
    first (untimed) and their steps run here, not by the worker, so the
    figure is the step path's own cost: wall time, and this process's CPU
    (the engine's Python, sealing included; PostgreSQL's CPU is not in it).
    """
    import redis
    from django.test import override_settings

    from audit import crypto
    from tasker_project.core.actors import Actor
    from workflows.engine.executor import execute_step
    from workflows.models import Step
    from workflows.services import task_start_many

    actor = Actor.system_actor("bench-inproc")
    quiesce_database()
    tasks = []
    # The wake-ups go to a queue no worker reads, so every step is ours.
    with override_settings(CELERY_TASK_DEFAULT_QUEUE="bench-unread"):
        for offset in range(0, count, 100):
            tasks += task_start_many(
                namespace="bench",
                workflow=workflow,
                contexts=[dict(context or {}) for _ in range(min(100, count - offset))],
                actor=actor,
                reason="step-cost",
            )
    redis.Redis.from_url(BROKER).delete("bench-unread")
    ids = list(Step.objects.filter(task__in=tasks).values_list("pk", flat=True))
    # A worker did not start these tasks: their data keys are not in its
    # cache, so each claim unwraps its task's key, as it would there.
    crypto._cache.clear()
    began, cpu_began = time.perf_counter(), time.process_time()
    for step_id in ids:
        if execute_step(step_id) != "complete":
            raise RuntimeError("a step-cost step did not complete")
    cpu = time.process_time() - cpu_began
    elapsed = time.perf_counter() - began
    per_step = elapsed * 1000 / len(ids)
    return {
        "steps": len(ids),
        "ms_per_step": per_step,
        "cpu_ms_per_step": cpu * 1000 / len(ids),
        "per_second": 1000 / per_step,
    }


def readiness_cost() -> dict[str, Any]:
    """Per-step cost of settling steps of a 1,000-step vs a 10-step fan-out.

    Runs in this process (no worker): every step of one task is executed
    with the executor, timing the settle path, which includes readiness.
    """
    from tasker_project.core.actors import Actor
    from workflows.engine.executor import claim_step, complete_attempt
    from workflows.models import Step

    actor = Actor.system_actor("bench-inproc")
    out: dict[str, Any] = {}
    for workflow in ("fan_10", "fan_1000"):
        task = start(workflow, actor, "readiness")
        timings = []
        while True:
            ready = list(
                Step.objects.filter(task=task, status="enqueued").values_list(
                    "pk", flat=True
                )
            )
            if not ready:
                break
            for step_id in ready:
                step = claim_step(step_id)
                if step is None:  # the worker took it: skip, it is not ours to time
                    continue
                began = time.perf_counter()
                complete_attempt(step=step, attempt=step.attempts, results={})
                timings.append((time.perf_counter() - began) * 1000)
        out[workflow] = {
            "steps_timed": len(timings),
            "mean_ms_per_step": statistics.fmean(timings),
            "p99_ms": percentile(timings, 99),
        }
    out["ratio_1000_to_10"] = (
        out["fan_1000"]["mean_ms_per_step"] / out["fan_10"]["mean_ms_per_step"]
    )
    return out


def queries_per_step() -> dict[str, int]:
    """SQL statements the executor issues for one step, start to settle."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tasker_project.core.actors import Actor
    from workflows.engine.executor import execute_step
    from workflows.models import Step

    actor = Actor.system_actor("bench-inproc")
    out = {}
    task = start("chain_10", actor, "queries")
    for label, name in (("first_of_chain", "s0"), ("middle_of_chain", "s1")):
        step_id = Step.objects.get(task=task, name=name).pk
        if label == "middle_of_chain":
            pass  # s1 was enqueued by s0's completion
        with CaptureQueriesContext(connection) as captured:
            outcome = execute_step(step_id)
        if outcome != "complete":
            raise RuntimeError(f"bench step {name} ended {outcome}")
        out[label] = len(captured.captured_queries)
    with CaptureQueriesContext(connection) as captured:
        start("noop_1", actor, "queries")
    out["task_start_1_step"] = len(captured.captured_queries)
    return out


def profile_hot_path(tasks: int = 20) -> dict[str, Any]:
    """Profile claim → run → settle of ``tasks`` 10-step chains in this process.

    Returns where the time goes, by module group, and the top functions by
    own time, so the report can say what limits the engine.
    """
    import cProfile
    import pstats

    from tasker_project.core.actors import Actor
    from workflows.engine.executor import execute_step
    from workflows.models import Step

    actor = Actor.system_actor("bench-profile")
    ids = [start("chain_10", actor, "profile").pk for _ in range(tasks)]
    profiler = cProfile.Profile()
    steps = 0
    began = time.perf_counter()
    profiler.enable()
    while True:
        ready = list(
            Step.objects.filter(task_id__in=ids, status="enqueued").values_list(
                "pk", flat=True
            )
        )
        if not ready:
            break
        for step_id in ready:
            execute_step(step_id)
            steps += 1
    profiler.disable()
    elapsed = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, func), (
        _cc,
        _nc,
        tottime,
        _ct,
        _callers,
    ) in stats.stats.items():  # type: ignore[attr-defined]  # typeshed omits Stats.stats
        if "psycopg" in filename or "{method 'execute'" in func:
            group = "waiting on PostgreSQL (psycopg)"
        elif "django/db" in filename:
            group = "Django ORM (query building, model loading)"
        elif "kombu" in filename or "celery" in filename or "redis" in filename:
            group = "publishing to the broker"
        elif "/workflows/" in filename:
            group = "Tasker engine code"
        else:
            group = "other (stdlib, json, logging)"
        groups[group] = groups.get(group, 0.0) + tottime
        rows.append((tottime, f"{Path(filename).name}:{line}({func})"))
    total = sum(groups.values()) or 1.0
    rows.sort(reverse=True)
    return {
        "steps": steps,
        "ms_per_step_profiled": elapsed / steps * 1000,
        "share": {
            k: round(v / total, 3)
            for k, v in sorted(groups.items(), key=lambda i: -i[1])
        },
        "top": [f"{t / steps * 1000:.3f} ms/step  {name}" for t, name in rows[:12]],
    }
