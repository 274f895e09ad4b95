"""Engine behaviour, driven in-process.

These tests call the executor directly instead of through a worker: the code
under test is the same (claim, run, complete, fail), and driving it by hand
lets a test stop between steps, race two claims, or expire a lease. The real
worker path is covered in test_worker_engine.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tasker_project.core.actors import Actor
from tasker_project.core.errors import (
    ContextValidationError,
    DefinitionNotFound,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
)
from tests.factories import start, step_of
from workflows.engine.backoff import retry_delay
from workflows.engine.executor import claim_step, complete_attempt, execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.engine.sweeper import sweep
from workflows.engine.transitions import step_transition
from workflows.models import Step, StepTransition, Task
from workflows.services import step_resolve, step_retry, task_cancel

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


@pytest.mark.django_db
class TestStartTask:
    def test_context_violations_are_listed_by_field_path(self, synced):
        """Every violation is reported, each under its own path; nothing is created."""
        with pytest.raises(ContextValidationError) as caught:
            start(
                "testing.strict",
                {"customer_email": 42, "items": [{"sku": 7}]},
            )
        fields = caught.value.fields
        assert "context.customer_email" in fields
        assert any(path.startswith("context.items.0") for path in fields)
        assert Task.objects.count() == 0

    def test_missing_required_property_is_reported_at_its_own_path(self, synced):
        with pytest.raises(ContextValidationError) as caught:
            start("testing.strict", {})
        assert caught.value.fields["context.customer_email"] == [
            "This field is required."
        ]

    def test_unknown_workflow_names_the_thing_missing(self, synced):
        with pytest.raises(DefinitionNotFound, match="nope"):
            start("testing.nope", {})
        with pytest.raises(NotFound, match="namespace 'ghost' not found"):
            start("ghost.chain", {})

    def test_same_idempotency_key_and_payload_returns_the_same_task(self, synced):
        first = start("testing.chain", {"start": 1}, idempotency_key="k-1")
        again = start("testing.chain", {"start": 1}, idempotency_key="k-1")
        assert first.was_created is True
        assert again.was_created is False
        assert again.pk == first.pk
        assert Task.objects.count() == 1

    def test_same_key_with_another_payload_is_a_conflict(self, synced):
        start("testing.chain", {"start": 1}, idempotency_key="k-2")
        with pytest.raises(IdempotencyConflict, match="k-2"):
            start("testing.chain", {"start": 2}, idempotency_key="k-2")
        assert Task.objects.count() == 1

    def test_start_creates_steps_edges_and_enqueues_only_roots(self, synced):
        task = start("testing.diamond", {"start": 1})
        statuses = dict(task.steps.values_list("name", "status"))
        assert statuses == {
            "root": StepStatus.ENQUEUED,
            "left": StepStatus.PENDING,
            "right": StepStatus.PENDING,
            "join": StepStatus.PENDING,
        }
        assert task.edges.count() == 4
        assert task.status == TaskStatus.IN_PROGRESS


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

    def test_manual_retry_of_failed_step_resumes_failed_task(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
        run_ready(task)
        step_retry(step=step_of(task, "first"), actor=SYSTEM, reason="gateway fixed")
        task.refresh_from_db()
        assert task.status == TaskStatus.IN_PROGRESS
        first = step_of(task, "first")
        assert first.status == StepStatus.ENQUEUED
        assert first.max_attempts == 1 + 3
        task = run_ready(task)
        assert task.status == TaskStatus.COMPLETE
        assert step_of(task, "first").attempts == 2

    def test_retrying_a_complete_step_is_illegal_and_changes_nothing(self, synced):
        task = run_ready(start("testing.chain", {"start": 1}))
        before = StepTransition.objects.count()
        with pytest.raises(IllegalTransition, match="only a failed step"):
            step_retry(step=step_of(task, "first"), actor=SYSTEM)
        assert StepTransition.objects.count() == before
        assert step_of(task, "first").status == StepStatus.COMPLETE

    def test_illegal_transition_raises_before_writing(self, synced):
        task = start("testing.chain", {"start": 1})
        first = step_of(task, "first")
        with pytest.raises(IllegalTransition, match="from enqueued to complete"):
            step_transition(
                step_id=first.pk,
                from_status=StepStatus.ENQUEUED,
                to_status=StepStatus.COMPLETE,
                actor=SYSTEM,
            )
        assert step_of(task, "first").status == StepStatus.ENQUEUED

    def test_resolve_pending_step_with_results(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
        run_ready(task)
        step_resolve(step=step_of(task, "first"), actor=SYSTEM, results={"value": 40})
        task = run_ready(task)
        assert step_of(task, "first").status == StepStatus.RESOLVED_MANUALLY
        assert step_of(task, "second").results["value"] == 50
        assert task.status == TaskStatus.COMPLETE

    def test_resolve_refuses_non_object_results(self, synced):
        task = start("testing.chain", {"start": 1})
        with pytest.raises(Exception, match="JSON object"):
            step_resolve(step=step_of(task, "second"), actor=SYSTEM, results=[1])

    def test_cancel_cancels_every_unfinished_step_and_is_audited(self, synced):
        from audit.models import AuditEvent

        task = start("testing.diamond", {"start": 1})
        execute_step(step_of(task, "root").pk)
        task_cancel(task=task, actor=SYSTEM, reason="duplicate order")
        task.refresh_from_db()
        assert task.status == TaskStatus.CANCELLED
        assert dict(task.steps.values_list("name", "status")) == {
            "root": StepStatus.COMPLETE,
            "left": StepStatus.CANCELLED,
            "right": StepStatus.CANCELLED,
            "join": StepStatus.CANCELLED,
        }
        event = AuditEvent.objects.get(action="task.cancelled")
        assert event.object_id == str(task.pk)
        assert event.reason == "duplicate order"
        with pytest.raises(IllegalTransition, match="cancelled"):
            task_cancel(task=task, actor=SYSTEM)

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
class TestSweeper:
    def test_lost_message_of_enqueued_step_is_republished(self, synced, settings):
        task = start("testing.chain", {"start": 1})
        Step.objects.filter(task=task).update(
            enqueued_at=timezone.now() - timedelta(minutes=10)
        )
        report = sweep()
        assert report.republished == 1
        # Republishing moves no state; a second sweep right away finds nothing.
        assert sweep().republished == 0

    def test_due_retry_is_enqueued(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["retry"]}})
        execute_step(step_of(task, "first").pk)
        assert sweep().retries_enqueued == 0
        make_due(task)
        assert sweep().retries_enqueued == 1
        assert step_of(task, "first").status == StepStatus.ENQUEUED

    def test_expired_lease_on_last_attempt_fails_the_step(self, synced):
        task = start("testing.chain", {"start": 1})
        Step.objects.filter(task=task, name="first").update(max_attempts=1)
        claim_step(step_of(task, "first").pk)
        Step.objects.filter(task=task, name="first").update(
            lease_expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert sweep().leases_expired == 1
        first = step_of(task, "first")
        assert first.status == StepStatus.FAILED
        assert first.error["code"] == "lease_expired"
        task.refresh_from_db()
        assert task.status == TaskStatus.FAILED


def test_backoff_is_exponential_capped_and_honours_retry_after():
    import random

    rng = random.Random(7)
    plain = [
        retry_delay(attempt=a, base_seconds=1, max_seconds=10, jitter=False)
        for a in range(1, 7)
    ]
    assert plain == [1, 2, 4, 8, 10, 10]
    jittered = retry_delay(
        attempt=3, base_seconds=1, max_seconds=10, jitter=True, rng=rng
    )
    assert 2 <= jittered <= 4
    assert (
        retry_delay(
            attempt=1, base_seconds=1, max_seconds=10, jitter=True, retry_after=7
        )
        == 7
    )
    assert (
        retry_delay(
            attempt=1, base_seconds=1, max_seconds=10, jitter=True, retry_after=99
        )
        == 10
    )


def _race(functions: list[Any]) -> list[Any]:
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


@pytest.mark.django_db(transaction=True)
def test_two_claims_racing_only_one_wins(synced):
    task = start("testing.chain", {"start": 1})
    step_id = step_of(task, "first").pk
    for _ in range(3):
        results = _race([lambda: claim_step(step_id), lambda: claim_step(step_id)])
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert step_of(task, "first").attempts == winners[0].attempts
        # Put it back to enqueued through the sweeper path for the next round.
        Step.objects.filter(pk=step_id).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1), max_attempts=10
        )
        sweep()
        make_due(task)
        sweep()
    claims = StepTransition.objects.filter(
        step_id=step_id, to_status=StepStatus.IN_PROGRESS
    )
    assert claims.count() == 3
    assert sorted(claims.values_list("attempt", flat=True)) == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_two_fan_in_completions_racing_enqueue_the_child_once(synced):
    """left and right complete at the same moment: join is enqueued exactly once."""
    for _ in range(5):
        task = start("testing.diamond", {"start": 1})
        execute_step(step_of(task, "root").pk)
        left = claim_step(step_of(task, "left").pk)
        right = claim_step(step_of(task, "right").pk)
        _race(
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


def test_an_unknown_worker_commit_level_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    from tasker_project.settings.base import _synchronous_commit

    assert _synchronous_commit("off") == "off"
    with pytest.raises(ImproperlyConfigured, match="TASKER_WORKER_SYNCHRONOUS_COMMIT"):
        _synchronous_commit("sometimes")


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
