"""Readiness: a step's count of unsatisfied parents, and the upgrade's recount."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.factories import start, step_of
from tests.workflows.helpers import SYSTEM
from workflows.engine.executor import execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step
from workflows.services import step_resolve


@pytest.mark.django_db
def test_waiting_on_counts_unsatisfied_parents_and_the_upgrade_recounts_them(synced):
    """join waits on left and right; the upgrade's recount gives the same."""
    import importlib

    task = start("testing.diamond", {"start": 1})
    assert {s.name: s.waiting_on for s in task.steps.all()} == {
        "root": 0,
        "left": 1,
        "right": 1,
        "join": 2,
    }
    execute_step(step_of(task, "root").pk)
    execute_step(step_of(task, "left").pk)
    assert step_of(task, "join").waiting_on == 1
    assert step_of(task, "join").status == StepStatus.PENDING
    # A database from before the counter: every step at 0, then the recount.
    Step.objects.filter(task=task).update(waiting_on=0)
    migration = importlib.import_module("workflows.migrations.0004_step_waiting_on")
    with connection.cursor() as cursor:
        cursor.execute(migration.COUNT_WAITING)
    assert step_of(task, "join").waiting_on == 1
    execute_step(step_of(task, "right").pk)
    join = step_of(task, "join")
    assert (join.status, join.waiting_on) == (StepStatus.ENQUEUED, 0)


@pytest.mark.django_db
def test_the_upgrade_recount_covers_a_step_resolved_while_its_parent_runs(synced):
    """join resolved by hand while left and right still run keeps its count, so
    their completions decrement it (and do not break the non-negative check)."""
    import importlib

    task = start("testing.diamond", {"start": 1})
    execute_step(step_of(task, "root").pk)
    step_resolve(
        step=step_of(task, "join"), actor=SYSTEM, results={"value": 0}, reason="skip"
    )
    Step.objects.filter(task=task).update(waiting_on=0)
    migration = importlib.import_module("workflows.migrations.0004_step_waiting_on")
    with connection.cursor() as cursor:
        cursor.execute(migration.COUNT_WAITING)
    assert step_of(task, "join").waiting_on == 2
    execute_step(step_of(task, "left").pk)
    execute_step(step_of(task, "right").pk)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETE
    assert step_of(task, "join").status == StepStatus.RESOLVED_MANUALLY
