"""Drive the engine in-process from a test.

Tests call the executor directly instead of through a worker: the code
under test is the same (claim, run, complete, fail), and driving it by hand
lets a test stop between steps, race two claims, or expire a lease. The real
worker path is covered in test_worker_engine.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from tasker_project.core.actors import Actor
from workflows.engine.executor import execute_step
from workflows.engine.states import StepStatus
from workflows.models import Step, Task

SYSTEM = Actor.system_actor("test")


def run_ready(task: Task, rounds: int = 20) -> Task:
    """Run every enqueued step of ``task`` until none is left; return the task."""
    for _ in range(rounds):
        ready = list(
            Step.objects.filter(task=task, status=StepStatus.ENQUEUED).values_list(
                "pk", flat=True
            )
        )
        if not ready:
            break
        for step_id in ready:
            execute_step(step_id)
    task.refresh_from_db()
    return task


def make_due(task: Task) -> None:
    """Pretend every retry wait of ``task`` has passed."""
    Step.objects.filter(task=task, status=StepStatus.WAITING_FOR_RETRY).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def race(functions: list[Any]) -> list[Any]:
    """Run callables at once from separate threads (separate DB connections)."""
    barrier = threading.Barrier(len(functions))
    results: list[Any] = [None] * len(functions)
    errors: list[BaseException] = []

    def run(index: int, fn: Any) -> None:
        try:
            barrier.wait()
            results[index] = fn()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
