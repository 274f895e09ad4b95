"""The executor: claim, run, complete or fail a step; fencing; continuation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.factories import start, step_of
from tests.workflows.helpers import make_due, run_ready
from workflows.engine.executor import claim_step, complete_attempt, execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.engine.sweeper import sweep
from workflows.models import Step


@pytest.mark.django_db
class TestExecution:
    def test_duplicate_wake_up_does_not_run_the_handler_twice(self, synced):
        task = start("testing.chain", {"start": 1})
        first = step_of(task, "first")
        assert execute_step(first.pk) == "complete"
        assert execute_step(first.pk) == "skipped"
        assert step_of(task, "first").attempts == 1

    def test_attempts_exhausted_fails_step_and_task(self, synced):
        """retry_limit counts total attempts: third has 2, both fail."""
        task = start(
            "testing.chain", {"start": 1, "fail": {"third": ["retry", "retry"]}}
        )
        run_ready(task)
        make_due(task)
        sweep()
        task = run_ready(task)
        third = step_of(task, "third")
        assert third.status == StepStatus.FAILED
        assert third.attempts == 2 == third.max_attempts
        assert task.status == TaskStatus.FAILED

    def test_permanent_error_fails_at_once(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
        task = run_ready(task)
        first = step_of(task, "first")
        assert first.status == StepStatus.FAILED
        assert first.attempts == 1
        assert first.error["code"] == "injected"
        assert "Traceback" in first.error["traceback"]
        assert task.status == TaskStatus.FAILED
        assert step_of(task, "second").status == StepStatus.PENDING

    def test_non_dict_results_are_a_permanent_handler_bug(self, synced):
        task = start("testing.chain", {"start": 1})
        Step.objects.filter(pk=step_of(task, "first").pk).update()
        first = step_of(task, "first")
        first.template.__class__.objects.filter(pk=first.template.pk).update(
            handler="tests.handlers.NotADict"
        )
        execute_step(first.pk)
        first = step_of(task, "first")
        assert first.status == StepStatus.FAILED
        assert first.error["code"] == "bad_results"

    def test_retry_after_from_handler_sets_next_attempt(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["retry_after"]}})
        before = timezone.now()
        execute_step(step_of(task, "first").pk)
        first = step_of(task, "first")
        assert first.status == StepStatus.WAITING_FOR_RETRY
        assert first.error["code"] == "rate_limited"
        wait = (first.next_attempt_at - before).total_seconds()
        assert 0.1 < wait < 1.5

    def test_stale_completion_is_fenced_by_attempt(self, synced):
        """A result from an attempt whose lease was taken over is discarded."""
        task = start("testing.chain", {"start": 1})
        step = claim_step(step_of(task, "first").pk)
        assert step is not None
        # The lease expires; the sweeper retries the step; attempt 2 claims it.
        Step.objects.filter(pk=step.pk).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        sweep()
        make_due(task)
        sweep()
        assert claim_step(step.pk).attempts == 2
        assert complete_attempt(step=step, attempt=1, results={"value": -1}) == "fenced"
        assert step_of(task, "first").status == StepStatus.IN_PROGRESS


@pytest.mark.django_db
def test_results_that_cannot_be_stored_fail_the_step_permanently(synced):
    """NaN or a NUL character would crash the database write: refuse them."""
    from workflows.engine.executor import _checked_results
    from workflows.handlers import PermanentError

    step = step_of(start("testing.chain", {"start": 1}), "first")
    for bad in ({"x": float("nan")}, {"x": "a\x00b"}):
        with pytest.raises(PermanentError, match="JSON") as caught:
            _checked_results(step, bad)
        assert caught.value.code == "bad_results"


@pytest.mark.django_db
class TestContinuation:
    """A worker runs one ready child of the step it settles instead of publishing it."""

    @pytest.fixture
    def published(self, monkeypatch) -> list[Any]:
        from workflows.engine import dispatch, limits

        sent: list[Any] = []
        monkeypatch.setattr(
            dispatch, "publish_step", lambda step_id, **_: sent.append(step_id)
        )
        # Continuation needs the worker's own step time limits; pretend this
        # process enforces them.
        monkeypatch.setattr(limits, "enabled", lambda: True)
        return sent

    def test_fan_out_keeps_one_child_and_publishes_the_other(
        self, synced, published, django_capture_on_commit_callbacks
    ):
        from workflows.engine.executor import execute_steps

        task = start("testing.diamond", {"start": 1})
        with django_capture_on_commit_callbacks(execute=True):
            execute_steps(step_of(task, "root").pk, max_steps=10)
        statuses = {s.name: s.status for s in task.steps.all()}
        # root ran; one branch ran in the same call; the other was published.
        assert statuses["root"] == StepStatus.COMPLETE
        ran, sent = sorted(("left", "right"), key=lambda n: statuses[n])
        assert statuses[ran] == StepStatus.COMPLETE
        assert statuses[sent] == StepStatus.ENQUEUED
        assert published == [step_of(task, sent).pk]
        # The published branch completes the fan-in; join runs right after it.
        with django_capture_on_commit_callbacks(execute=True):
            execute_steps(published[0], max_steps=10)
        task.refresh_from_db()
        assert task.status == TaskStatus.COMPLETE
        assert len(published) == 1
        join = step_of(task, "join")
        assert join.results["value"] == 3 + 3 + 1
        assert join.transitions.filter(to_status=StepStatus.IN_PROGRESS).count() == 1

    def test_at_most_max_steps_run_in_one_call(
        self, synced, published, django_capture_on_commit_callbacks
    ):
        from workflows.engine.executor import execute_steps

        task = start("testing.chain", {"start": 1})
        with django_capture_on_commit_callbacks(execute=True):
            execute_steps(step_of(task, "first").pk, max_steps=2)
        assert step_of(task, "second").status == StepStatus.COMPLETE
        assert step_of(task, "third").status == StepStatus.ENQUEUED
        assert published == [step_of(task, "third").pk]

    def test_a_child_whose_timeout_does_not_fit_the_message_is_published(
        self, synced, published, django_capture_on_commit_callbacks
    ):
        """second's timeout (5 s) would outlast the message's soft limit (3 s)."""
        from workflows.engine.executor import execute_steps

        task = start("testing.chain", {"start": 1})
        with django_capture_on_commit_callbacks(execute=True):
            execute_steps(step_of(task, "first").pk, max_steps=10, soft_limit_seconds=3)
        assert step_of(task, "first").status == StepStatus.COMPLETE
        assert step_of(task, "second").status == StepStatus.ENQUEUED
        assert published == [step_of(task, "second").pk]

    def test_without_the_workers_own_time_limits_one_step_per_call(
        self, synced, published, monkeypatch, django_capture_on_commit_callbacks
    ):
        from workflows.engine import limits
        from workflows.engine.executor import execute_steps

        monkeypatch.setattr(limits, "enabled", lambda: False)
        task = start("testing.chain", {"start": 1})
        with django_capture_on_commit_callbacks(execute=True):
            execute_steps(step_of(task, "first").pk, max_steps=10)
        assert step_of(task, "second").status == StepStatus.ENQUEUED
        assert published == [step_of(task, "second").pk]


@pytest.mark.django_db
@pytest.mark.parametrize("level", ["on", "off"])
def test_claims_commit_without_waiting_and_settles_at_the_worker_level(
    synced, settings, level
):
    """A claim's transaction never waits for the WAL flush; a settle's follows
    TASKER_WORKER_SYNCHRONOUS_COMMIT (PostgreSQL; SQLite has no such setting)."""
    settings.TASKER = {**settings.TASKER, "WORKER_SYNCHRONOUS_COMMIT": level}
    task = start("testing.chain", {"start": 1})

    def level_now() -> str | None:
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    before = level_now()
    claim = claim_step(step_of(task, "first").pk)
    # The test runs inside one transaction, so the transaction-local setting
    # is still visible here.
    assert level_now() == ("off" if connection.vendor == "postgresql" else None)
    assert complete_attempt(step=claim, attempt=claim.attempts, results={}) == (
        "complete"
    )
    assert level_now() == (level if connection.vendor == "postgresql" else None)
    assert step_of(task, "second").status == StepStatus.ENQUEUED
    assert before in ("on", None)
