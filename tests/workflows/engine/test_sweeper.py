"""The sweeper recovers lost messages, due retries and expired leases.

It survives a poisoned row, has its own queue, and never expires: one step
whose handling raises must not stop the sweep for every other task; a
backlog of steps must not starve the sweeper; a worker whose clock runs
ahead of beat must still run sweeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db.models import QuerySet
from django.test import override_settings
from django.utils import timezone

from namespaces.services import grant_create
from tasker_project.celery import app
from tasker_project.core.actors import Actor
from tests.conftest import wait_for
from tests.factories import NamespaceFactory, start, step_of
from tests.workflows.helpers import make_due
from workflows.engine.executor import claim_step, execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.engine.sweeper import sweep
from workflows.models import Step, StepTemplate, StepTransition, Task


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


def _claimed_with_expired_lease(task: Task, name: str = "first") -> Step:
    """Put a step where a dead worker leaves it: claimed, lease run out."""
    past = timezone.now() - timedelta(seconds=60)
    Step.objects.filter(task=task, name=name).update(
        status=StepStatus.IN_PROGRESS, attempts=1, lease_expires_at=past
    )
    Task.objects.filter(pk=task.pk).update(status=TaskStatus.IN_PROGRESS)
    return step_of(task, name)


@pytest.mark.django_db
class TestPoisonedRows:
    def test_an_overflowing_backoff_neither_raises_nor_stops_the_sweep(self, synced):
        """A template row from before the loader's bounds: backoff 1e308 s."""
        poisoned = start("testing.chain")
        healthy = start("testing.chain")
        step = _claimed_with_expired_lease(poisoned)
        StepTemplate.objects.filter(pk=step.template_id).update(
            backoff_base_seconds=1e308, backoff_max_seconds=1e308
        )
        # The template is shared by both tasks' "first" steps: both overflow
        # today. Give the healthy task its own sane copy of the template.
        template = StepTemplate.objects.get(pk=step.template_id)
        template.pk = None
        template.name = "first_copy"
        template.backoff_base_seconds, template.backoff_max_seconds = 0.05, 0.2
        StepTemplate.objects.bulk_create([template])
        _claimed_with_expired_lease(healthy)
        Step.objects.filter(task=healthy, name="first").update(template=template)

        report = sweep()

        assert report.leases_expired == 2
        assert report.errors == 0
        step = step_of(poisoned, "first")
        assert step.status == StepStatus.WAITING_FOR_RETRY
        # The delay was capped at a day, not 1e308 seconds.
        assert step.next_attempt_at <= timezone.now() + timedelta(days=1, minutes=1)
        assert step_of(healthy, "first").status == StepStatus.WAITING_FOR_RETRY

    def test_a_row_whose_handling_raises_is_failed_for_an_operator(self, synced):
        """Two parents whose children ended; one parent's stored request is
        corrupt (outputs not a mapping). The other is still settled."""

        crossteam = NamespaceFactory(slug="crossteam")
        testing = NamespaceFactory(slug="testing")
        grant_create(
            source=crossteam,
            target=testing,
            workflow="chain",
            actor=Actor.system_actor("test"),
        )
        parents = []
        for _ in range(2):
            task = start("crossteam.parent", {"start": 1, "amount": 5})
            for _ in range(3):  # prepare, review, call: the child is started
                for ready in task.steps.filter(status=StepStatus.ENQUEUED):
                    execute_step(ready.pk)
            parents.append(task)
        healthy, poisoned = parents  # the newer child is swept first
        for task in parents:
            child = Task.objects.get(parent_step__task=task)
            # The child ends without the engine settling its parent (a crash).
            Task.objects.filter(pk=child.pk).update(status=TaskStatus.COMPLETE)
        Step.objects.filter(task=poisoned, name="call").update(
            approval_request={"subtask": "testing.chain", "outputs": "corrupt"}
        )

        report = sweep()

        assert report.errors == 1
        assert report.subtasks_settled == 1
        assert step_of(healthy, "call").status == StepStatus.COMPLETE
        call = step_of(poisoned, "call")
        assert call.status == StepStatus.FAILED
        assert call.error["code"] == "sweep_failed"
        assert "AttributeError" in call.error["message"]
        poisoned.refresh_from_db()
        assert poisoned.status == TaskStatus.FAILED
        # The next sweep does not trip over it again.
        assert sweep().errors == 0


def test_the_beat_entry_routes_to_the_sweep_queue_without_an_expiry() -> None:
    """Celery's ``expires`` is absolute, on beat's clock: a worker whose clock
    runs ahead drops the message as expired. Sweeps carry none."""
    entry = app.conf.beat_schedule["tasker-sweep"]
    assert "expires" not in entry["options"]
    assert entry["options"]["queue"] == settings.TASKER_SWEEP_QUEUE
    assert app.conf.task_routes["workflows.sweep"]["queue"] == (
        settings.TASKER_SWEEP_QUEUE
    )
    assert settings.TASKER_SWEEP_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE


def _lost_retry() -> Task:
    """Start a chain whose first step waits for a retry whose message is lost.

    Only a sweep moves it on; the sweeper's transition row says a sweep ran.
    Its first message goes to a queue nobody reads (a message for a due
    retry would be claimed by the worker), and the step is made to wait.
    """
    with override_settings(
        CELERY_TASK_DEFAULT_QUEUE=f"{settings.CELERY_TASK_DEFAULT_QUEUE}-lost"
    ):
        task = start("testing.chain")
    Step.objects.filter(task=task, name="first").update(
        status=StepStatus.WAITING_FOR_RETRY,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(seconds=5),
    )
    return task


def _swept(task: Task) -> bool:
    return StepTransition.objects.filter(
        step__task=task, actor_label="system:sweeper"
    ).exists()


def _transitions_to_complete(tasks: list[Task]) -> QuerySet[StepTransition]:
    """Return the transitions that completed ``tasks``' last steps."""
    return StepTransition.objects.filter(
        step__task__in=tasks, step__name="third", to_status=StepStatus.COMPLETE
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_backlog_of_steps_does_not_starve_the_sweeper(synced, worker_factory) -> None:
    """A sweep beat sends behind a backlog of slow chains runs before the
    backlog drains: it rides its own queue, which the worker reads first.

    Six chains of three one-second steps are queued before one worker
    process starts, with beat sweeping every second. On the step queue the
    first sweep would run after all six; on its own queue it waits for the
    chain the worker took before beat's first tick and at most one fetched
    ahead of it (kombu's filesystem transport cycles over the queues; Redis
    puts the sweep queue first in each ``BRPOP`` but the one after a
    sweep), so at most three finish first, with a chain's margin.
    Order is read from the transition table's sequence, not from clocks.
    """
    backlog = [start("testing.chain", {"start": 1, "sleep": 1}) for _ in range(6)]
    lost = _lost_retry()
    worker_factory(beat=True, concurrency=1, TASKER_SWEEP_INTERVAL="1")

    wait_for(lambda: _swept(lost), timeout=120, what="a sweep to enqueue the retry")

    first_sweep = (
        StepTransition.objects.filter(step__task=lost, actor_label="system:sweeper")
        .order_by("id")
        .first()
    )
    finished_before_sweep = (
        _transitions_to_complete(backlog).filter(id__lt=first_sweep.id).count()
    )
    assert finished_before_sweep <= 3
    assert finished_before_sweep < len(backlog)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_clock_runs_ahead_of_beat_still_sweeps(
    synced, worker_factory
) -> None:
    """Send a sweep exactly as beat does, from a host whose clock is two
    minutes behind the worker's: the worker runs it.

    Celery turns a relative ``expires`` into an absolute time on the
    sender's clock; that is computed here as beat's host would compute it.
    With ``"expires": 30`` in the beat entry the worker drops the message
    as expired, and no sweep ever runs.
    """
    lost = _lost_retry()
    worker = worker_factory()
    entry = app.conf.beat_schedule["tasker-sweep"]
    options = dict(entry.get("options", {}))
    beat_clock = timezone.now() - timedelta(minutes=2)
    if "expires" in options and not isinstance(options["expires"], datetime):
        options["expires"] = beat_clock + timedelta(seconds=options["expires"])
    # The entry's queue is this process's TASKER_SWEEP_QUEUE; the worker's
    # private one stands for it (the test above checks the entry's queue).
    options["queue"] = worker.sweep_queue

    app.send_task(entry["task"], args=entry.get("args", ()), **options)

    wait_for(lambda: _swept(lost), timeout=60, what="the worker to run the sweep")
    wait_for(
        lambda: Task.objects.get(pk=lost.pk).status == TaskStatus.COMPLETE,
        timeout=60,
        what="the swept retry to run",
    )
