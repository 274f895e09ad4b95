"""The engine end to end with a real Celery worker process and a real broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasker_project.core.actors import Actor
from tests.conftest import wait_for
from tests.factories import start, step_of
from workflows.engine import dispatch
from workflows.engine.states import StepStatus, TaskStatus
from workflows.services import step_resolve, task_cancel

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_chain_runs_to_completion_passing_results_down(synced, worker, wait_task):
    """Each step sees its parent's results; the task completes."""
    task = start("testing.chain", {"start": 5})
    wait_task(task, TaskStatus.COMPLETE, timeout=60)
    values = {s.name: s.results["value"] for s in task.steps.all()}
    assert values == {"first": 6, "second": 16, "third": 17}


def test_retryable_errors_then_success(synced, worker, wait_task):
    """Two retryable faults, then the third attempt succeeds."""
    task = start("testing.chain", {"start": 1, "fail": {"first": ["retry", "crash"]}})
    wait_task(task, TaskStatus.COMPLETE)
    first = step_of(task, "first")
    assert first.attempts == 3
    assert first.results["attempt"] == 3
    moves = list(
        first.transitions.order_by("created_at", "id").values_list(
            "to_status", flat=True
        )
    )
    assert moves.count(StepStatus.WAITING_FOR_RETRY) == 2


def test_message_delivered_twice_runs_handler_once(synced, worker, wait_task, tmp_path):
    """Duplicate wake-ups for one step: the handler runs exactly once."""
    marker = Path(tmp_path)
    task = start("testing.chain", {"start": 1, "marker_dir": str(marker), "sleep": 0.3})
    root = step_of(task, "first")
    for _ in range(3):
        dispatch.publish_step(root.pk, namespace_slug="testing", timeout_seconds=5)
    wait_task(task, TaskStatus.COMPLETE)
    runs = sorted(p.name.split("-")[0] for p in marker.iterdir())
    assert runs == ["first", "second", "third"]
    assert step_of(task, "first").attempts == 1


def test_cancel_fences_out_the_running_handler(synced, worker):
    """A cancelled task stays cancelled even though its running handler finishes."""
    task = start("testing.chain", {"start": 1, "sleep": 1.5})
    wait_for(
        lambda: step_of(task, "first").status == StepStatus.IN_PROGRESS,
        what="first step claimed",
    )
    task_cancel(task=task, actor=Actor.system_actor("test"), reason="customer withdrew")
    # The handler finishes after the cancel and reports; its report is refused.
    wait_for(
        lambda: "lost its claim" in worker.log(), timeout=30, what="fenced completion"
    )
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED
    statuses = set(task.steps.values_list("status", flat=True))
    assert statuses == {StepStatus.CANCELLED}
    assert step_of(task, "first").results is None


def test_manual_resolve_lets_the_task_finish(synced, worker, wait_task):
    """A permanently failed step resolved by hand feeds its results downstream."""
    task = start("testing.chain", {"start": 1, "fail": {"second": ["permanent"]}})
    wait_task(task, TaskStatus.FAILED)
    second = step_of(task, "second")
    assert second.status == StepStatus.FAILED
    assert second.error["code"] == "injected"
    assert step_of(task, "third").status == StepStatus.PENDING
    step_resolve(
        step=second,
        actor=Actor.system_actor("test"),
        results={"value": 100},
        reason="fixed by hand",
    )
    wait_task(task, TaskStatus.COMPLETE)
    assert step_of(task, "third").results["value"] == 101


def test_fan_out_and_fan_in(synced, worker, wait_task):
    """Both branches run after the root and the join sees both results."""
    task = start("testing.diamond", {"start": 1})
    wait_task(task, TaskStatus.COMPLETE)
    join = step_of(task, "join")
    assert join.results["parents"] == ["left", "right"]
    assert join.results["value"] == 3 + 3 + 1


def test_worker_killed_mid_step_is_recovered_by_beat_sweeper(
    synced, worker_factory, wait_task
):
    """SIGKILL the worker while a step runs; a new worker's beat sweeper recovers it."""
    task = start("testing.chain", {"start": 1, "fail": {"third": ["hang"]}})
    first = worker_factory(beat=True, TASKER_SWEEP_INTERVAL="1")
    wait_for(
        lambda: step_of(task, "third").status == StepStatus.IN_PROGRESS,
        timeout=60,
        what="third step claimed",
    )
    first.kill()
    worker_factory(beat=True, TASKER_SWEEP_INTERVAL="1")
    wait_task(task, TaskStatus.COMPLETE, timeout=90)
    third = step_of(task, "third")
    assert third.attempts == 2
    assert third.results["attempt"] == 2
    lost = third.transitions.get(to_status=StepStatus.WAITING_FOR_RETRY)
    assert lost.actor_label == "system:sweeper"
    assert "lease expired" in lost.reason


def _celery_limits_far_away(settings) -> dict[str, str]:
    """Push Celery's per-message limits 300 s out, here and in the worker.

    Then only the worker process's own per-step limits can stop a handler
    within a test's wait.
    """
    settings.TASKER = {**settings.TASKER, "CONTINUE_SECONDS": 300}
    return {"TASKER_CONTINUE_SECONDS": "300"}


def test_step_over_its_timeout_fails_the_attempt_with_a_timeout_and_retries(
    synced, worker_factory, wait_task, settings
):
    """third (timeout 2 s) hangs on attempt 1: the worker's own soft limit
    raises in the handler at 2 s and the attempt is retried."""
    worker_factory(**_celery_limits_far_away(settings))
    task = start("testing.chain", {"start": 1, "fail": {"third": ["hang"]}})
    wait_task(task, TaskStatus.COMPLETE, timeout=60)
    third = step_of(task, "third")
    assert third.attempts == 2
    claimed = third.transitions.filter(to_status=StepStatus.IN_PROGRESS).earliest(
        "created_at"
    )
    timed_out = third.transitions.get(to_status=StepStatus.WAITING_FOR_RETRY)
    assert timed_out.actor_label == "system:worker"
    assert timed_out.reason.startswith("timeout: step exceeded its timeout")
    waited = (timed_out.created_at - claimed.created_at).total_seconds()
    assert 2 <= waited < 4


def test_handler_ignoring_its_timeout_has_its_process_ended(
    synced, worker_factory, wait_task, tmp_path, settings
):
    """A handler that swallows the soft limit is ended at the hard limit; the
    sweeper recovers its step when the lease expires and attempt 2 runs."""
    limits_env = _celery_limits_far_away(settings)
    task = start(
        "testing.chain",
        {"start": 1, "marker_dir": str(tmp_path), "fail": {"third": ["stubborn"]}},
    )
    worker_factory(beat=True, TASKER_SWEEP_INTERVAL="1", **limits_env)
    wait_task(task, TaskStatus.COMPLETE, timeout=90)
    third = step_of(task, "third")
    assert third.attempts == 2
    lost = third.transitions.get(to_status=StepStatus.WAITING_FOR_RETRY)
    assert "lease expired" in lost.reason
    (marker,) = tmp_path.glob("stubborn-*")
    pid = int(marker.name.removeprefix("stubborn-"))

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    # The watchdog looks every quarter second, so attempt 2 may finish first;
    # without the hard limit the process would sleep for an hour.
    wait_for(gone, timeout=10, what=f"stubborn worker process {pid} to end")
