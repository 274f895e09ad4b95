"""Recover what messages alone cannot: due retries, lost messages, dead workers.

Run by Celery beat (``workflows.sweep``) and by ``manage.py sweep``. Each scan
reads a batch of candidate ids with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
(two sweepers never fight over a row) and moves each step with the same
compare-and-set transitions the workers use, so a sweep racing a worker can
only lose, never double-apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now

from tasker_project.core import context
from tasker_project.core.actors import SWEEPER
from workflows.engine import claim_sql, dispatch
from workflows.engine.executor import fail_attempt
from workflows.engine.progress import finalize_task, lock_task, settle_parent_step
from workflows.engine.states import StepStatus, TaskStatus, step_can_move
from workflows.engine.transitions import step_transition
from workflows.models import Step, Task

logger = logging.getLogger(__name__)


class LeaseExpired(Exception):
    """The worker holding a step stopped renewing it: crashed or hung."""

    code = "lease_expired"

    def __init__(self, step_name: str, attempt: int) -> None:
        self.message = (
            f"step '{step_name}' attempt {attempt} lost its worker (lease expired)"
        )
        super().__init__(self.message)


@dataclass
class SweepReport:
    """How many steps each scan moved."""

    retries_enqueued: int = 0
    republished: int = 0
    leases_expired: int = 0
    subtasks_settled: int = 0
    # Rows whose handling raised: logged, counted, and (where the state
    # machine allows) failed with code ``sweep_failed`` for an operator.
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        """Return the counts as a dict."""
        return {
            "retries_enqueued": self.retries_enqueued,
            "republished": self.republished,
            "leases_expired": self.leases_expired,
            "subtasks_settled": self.subtasks_settled,
            "errors": self.errors,
        }


def _poisoned(report: SweepReport, step_id: Any, status: str, exc: Exception) -> None:
    """Log and count a row the sweep could not handle; fail it where allowed.

    One bad row must never stop the sweep for every other task. A step
    that can move to ``failed`` from where it stands (a claimed step, or
    one waiting for its subtask) is failed with an error naming the cause,
    so it shows in the admin and an operator can retry or resolve it;
    otherwise it stays where it is and the next sweep tries again.
    """
    report.errors += 1
    logger.exception("sweep: step %s (%s) could not be handled", step_id, status)
    if not step_can_move(status, StepStatus.FAILED):
        return
    message = (
        f"the sweeper could not handle this step ({status}): "
        f"{type(exc).__name__}: {exc}"
    )[:2000]
    try:
        with transaction.atomic():
            step = Step.objects.only("task_id").get(pk=step_id)
            task = lock_task(step.task_id)
            if step_transition(
                step_id=step_id,
                from_status=status,
                to_status=StepStatus.FAILED,
                actor=SWEEPER,
                reason=message[:500],
                updates={
                    "error": {
                        "class": f"{type(exc).__module__}.{type(exc).__qualname__}",
                        "code": "sweep_failed",
                        "message": message,
                    },
                    "lease_expires_at": None,
                    "completed_at": Now(),
                },
            ):
                finalize_task(task=task, actor=SWEEPER)
    except Exception:  # the row stays for the next sweep; never stop this one
        logger.exception("sweep: step %s could not be marked failed", step_id)


def _candidates(queryset: QuerySet[Step], batch: int) -> list[tuple[Any, ...]]:
    """Return up to ``batch`` candidate rows, skipping rows locked elsewhere."""
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    return list(
        queryset.values_list(
            "pk",
            "name",
            "attempts",
            "task__namespace__slug",
            "template__timeout_seconds",
        )[:batch]
    )


def sweep() -> SweepReport:
    """Run the three recovery scans once; return what they did."""
    report = SweepReport()
    batch = settings.TASKER["SWEEP_BATCH"]

    # 1. Retries whose time has come (their countdown message may be lost).
    with transaction.atomic():
        due = _candidates(
            Step.objects.filter(
                status=StepStatus.WAITING_FOR_RETRY, next_attempt_at__lte=Now()
            ).order_by("next_attempt_at"),
            batch,
        )
        for step_id, _name, _attempts, namespace, timeout in due:
            try:
                with transaction.atomic():  # a savepoint per row
                    moved = step_transition(
                        step_id=step_id,
                        from_status=StepStatus.WAITING_FOR_RETRY,
                        to_status=StepStatus.ENQUEUED,
                        actor=SWEEPER,
                        reason="retry due",
                        updates={"enqueued_at": Now(), "next_attempt_at": None},
                        where=Q(next_attempt_at__lte=Now()),
                    )
            except Exception as exc:
                _poisoned(report, step_id, StepStatus.WAITING_FOR_RETRY, exc)
                continue
            if moved:
                report.retries_enqueued += 1
                dispatch.publish_on_commit(
                    step_id, namespace_slug=namespace, timeout_seconds=timeout
                )

    # 2. Enqueued steps nobody claimed: the message was lost, or the process
    #    died between commit and publish. Republishing is safe: a duplicate
    #    message finds the step claimed and does nothing.
    stale_after = timedelta(seconds=settings.TASKER["REPUBLISH_AFTER_SECONDS"])
    with transaction.atomic():
        stale = _candidates(
            Step.objects.filter(
                status=StepStatus.ENQUEUED, enqueued_at__lt=Now() - stale_after
            ).order_by("enqueued_at"),
            batch,
        )
        for step_id, _name, _attempts, namespace, timeout in stale:
            try:
                with transaction.atomic():  # a savepoint per row
                    changed = Step.objects.filter(
                        pk=step_id, status=StepStatus.ENQUEUED
                    ).update(enqueued_at=Now())
            except Exception as exc:
                _poisoned(report, step_id, StepStatus.ENQUEUED, exc)
                continue
            if changed:
                report.republished += 1
                dispatch.publish_on_commit(
                    step_id, namespace_slug=namespace, timeout_seconds=timeout
                )

    # 3. Claimed steps whose lease ran out: the worker died or hung. The
    #    attempt counts; the step retries or fails by the attempts left.
    with transaction.atomic():
        expired = _candidates(
            Step.objects.filter(
                status=StepStatus.IN_PROGRESS, lease_expires_at__lt=Now()
            ).order_by("lease_expires_at"),
            batch,
        )
    for step_id, name, attempts, _namespace, _timeout in expired:
        try:
            attempt = claim_sql.attempt_of(
                claim_sql.load_step(step_id), attempt=attempts
            )
            # What the failure writes belongs to the task's correlation id.
            with context.bind(
                correlation_id=attempt.correlation_id,
                initiator_label=attempt.initiator_label,
            ):
                outcome = fail_attempt(
                    step=attempt,
                    attempt=attempts,
                    exc=LeaseExpired(name, attempts),
                    actor=SWEEPER,
                )
        except Exception as exc:
            _poisoned(report, step_id, StepStatus.IN_PROGRESS, exc)
            continue
        if outcome != "fenced":
            report.leases_expired += 1
            logger.warning("step %s (%s) lease expired: %s", step_id, name, outcome)

    # 4. Subworkflow steps still waiting although their child task ended (a
    #    crash between the child's end and the parent's settle).
    ended_children = Task.objects.filter(
        parent_step__status=StepStatus.WAITING_FOR_SUBTASK,
        status__in=(TaskStatus.COMPLETE, TaskStatus.FAILED, TaskStatus.CANCELLED),
    ).select_related("definition")[:batch]
    for child in ended_children:
        try:
            settled = settle_parent_step(child=child)
        except Exception as exc:
            _poisoned(report, child.parent_step_id, StepStatus.WAITING_FOR_SUBTASK, exc)
            continue
        if settled:
            report.subtasks_settled += 1
    return report
