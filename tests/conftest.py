"""Shared fixtures: synced workflows, queues, real Celery workers, waiting."""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tasker_project.core.actors import Actor
from tests.worker import WorkerProcess
from workflows.definitions.loader import load_paths
from workflows.definitions.sync import definitions_sync

FIXTURE_WORKFLOWS = Path(__file__).parent / "fixtures" / "workflows"
SESSION_ID = uuid.uuid4().hex[:8]
INPROC_QUEUE = f"tasker-test-{SESSION_ID}-inproc"
WORKER_QUEUE = f"tasker-test-{SESSION_ID}-worker"


@pytest.fixture(scope="session")
def workflow_specs() -> list:
    """Load the shipped and the test-only workflow definitions once."""
    return load_paths([*settings.TASKER["WORKFLOW_PATHS"], FIXTURE_WORKFLOWS])


@pytest.fixture
def synced(db, workflow_specs) -> None:
    """Sync every workflow definition into the test database."""
    definitions_sync(specs=workflow_specs, actor=Actor.system_actor("test"))


@pytest.fixture(autouse=True)
def _inproc_queue(settings) -> None:
    """Publish to a queue no worker reads, unless a test asks for a worker."""
    settings.CELERY_TASK_DEFAULT_QUEUE = INPROC_QUEUE


@pytest.fixture(scope="session", autouse=True)
def _purge_test_queues() -> Iterator[None]:
    """Drop this session's queues at the end so nothing piles up in the broker."""
    yield
    from tasker_project.celery import app

    with app.connection_for_write() as conn:
        for queue in (INPROC_QUEUE, WORKER_QUEUE):
            # A queue never declared in this session is fine to miss.
            with contextlib.suppress(Exception):
                conn.default_channel.queue_delete(queue)
    broker_dir = Path(settings.VAR_DIR) / "broker"
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        shutil.rmtree(broker_dir / "processed", ignore_errors=True)


@pytest.fixture(scope="session")
def _session_worker(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    with django_db_blocker.unblock():
        worker = WorkerProcess(queue=WORKER_QUEUE).start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(_session_worker, settings, transactional_db) -> WorkerProcess:
    """A real Celery worker process consuming the queue this test publishes to."""
    settings.CELERY_TASK_DEFAULT_QUEUE = WORKER_QUEUE
    return _session_worker


@pytest.fixture
def worker_factory(
    settings, transactional_db
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start extra workers (e.g. with beat) on a queue private to this test."""
    queue = f"tasker-test-{SESSION_ID}-{uuid.uuid4().hex[:6]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    started: list[WorkerProcess] = []

    def start(**kwargs: Any) -> WorkerProcess:
        proc = WorkerProcess(queue=queue, **kwargs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 60, what: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def wait_task() -> Callable[..., Any]:
    """Return ``wait(task, statuses, timeout)`` that polls the task row."""
    from workflows.models import Task

    def wait(task: Any, statuses: set[str] | str, timeout: float = 60) -> Task:
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)

        def check() -> Task | None:
            current = Task.objects.get(pk=task.pk)
            return current if current.status in wanted else None

        try:
            return wait_for(check, timeout=timeout, what=f"task in {sorted(wanted)}")
        except AssertionError:
            current = Task.objects.get(pk=task.pk)
            steps = list(
                current.steps.values_list("name", "status", "attempts", "error")
            )
            raise AssertionError(
                f"task {task.pk} is {current.status}, wanted {sorted(wanted)}; "
                f"steps: {steps}"
            ) from None

    return wait
