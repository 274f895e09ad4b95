"""Moving a task forward under its row lock: fan-in enqueues a child once."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tests.factories import start, step_of
from tests.workflows.helpers import race
from workflows.engine.executor import claim_step, complete_attempt, execute_step
from workflows.engine.states import StepStatus
from workflows.models import StepTransition


@pytest.mark.django_db(transaction=True)
def test_two_fan_in_completions_racing_enqueue_the_child_once(synced):
    """left and right complete at the same moment: join is enqueued exactly once."""
    for _ in range(5):
        task = start("testing.diamond", {"start": 1})
        execute_step(step_of(task, "root").pk)
        left = claim_step(step_of(task, "left").pk)
        right = claim_step(step_of(task, "right").pk)
        race(
            [
                lambda left=left: complete_attempt(
                    step=left, attempt=1, results={"value": 1}
                ),
                lambda right=right: complete_attempt(
                    step=right, attempt=1, results={"value": 2}
                ),
            ]
        )
        join = step_of(task, "join")
        assert join.status == StepStatus.ENQUEUED
        assert (
            StepTransition.objects.filter(
                step=join, to_status=StepStatus.ENQUEUED
            ).count()
            == 1
        )


@pytest.mark.django_db
def test_task_lock_takes_only_the_task_row(synced):
    """Locking a task must not lock its namespace, shared by every task."""
    from django.test.utils import CaptureQueriesContext

    from workflows.engine.progress import lock_task

    task = start("testing.chain", {"start": 1})
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        lock_task(task.pk)
    sql = next(
        q["sql"] for q in captured.captured_queries if "workflows_task" in q["sql"]
    )
    if connection.features.has_select_for_update_of:
        assert 'FOR UPDATE OF "workflows_task"' in sql
    else:  # SQLite: the IMMEDIATE transaction is the lock; no row locks at all
        assert "FOR UPDATE" not in sql
