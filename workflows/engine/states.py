"""Task and step statuses and the transitions allowed between them.

Written once, here. On the ORM path every state change goes through
:mod:`workflows.engine.transitions`, which refuses anything not listed; on
PostgreSQL's hot path the claim (``claim_sql``) and the settle function
(``settle_function``, installed by a migration) make the same moves with
statuses, sets and reasons generated from this module.

Step::

    pending → enqueued → in_progress → complete
    in_progress → waiting_for_retry → enqueued      (retryable error, attempts left)
    in_progress → failed                            (permanent, or attempts exhausted)
    in_progress → waiting_for_approval → complete | failed
    in_progress → waiting_for_subtask → complete | failed
    any non-terminal → cancelled
    failed → enqueued                               (manual retry)
    pending | failed → resolved_manually

Task::

    pending → in_progress → complete | failed | cancelled
    failed → in_progress                  (a failed step is retried or resolved)
    failed → cancelled
"""

from django.db import models


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ENQUEUED = "enqueued", "Enqueued"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_FOR_RETRY = "waiting_for_retry", "Waiting for retry"
    WAITING_FOR_APPROVAL = "waiting_for_approval", "Waiting for approval"
    WAITING_FOR_SUBTASK = "waiting_for_subtask", "Waiting for subtask"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    RESOLVED_MANUALLY = "resolved_manually", "Resolved manually"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


S = StepStatus
T = TaskStatus

STEP_TERMINAL = frozenset({S.COMPLETE, S.FAILED, S.CANCELLED, S.RESOLVED_MANUALLY})
# A step in one of these satisfies its dependents.
STEP_SATISFIED = frozenset({S.COMPLETE, S.RESOLVED_MANUALLY})
# A step in one of these is still moving: the task is not finished while any is.
STEP_ACTIVE = frozenset(
    {
        S.ENQUEUED,
        S.IN_PROGRESS,
        S.WAITING_FOR_RETRY,
        S.WAITING_FOR_APPROVAL,
        S.WAITING_FOR_SUBTASK,
    }
)
STEP_NON_TERMINAL = frozenset(set(S) - STEP_TERMINAL)

# The reasons the claim and the settle record on their transitions. The ORM
# path (executor, progress) and PostgreSQL's statements (claim_sql, the
# generated settle_function) write the same text; REASON_STEPS_FAILED takes
# the number of failed steps.
REASON_CLAIMED = "claimed"
REASON_HANDLER_SUCCEEDED = "handler succeeded"
REASON_DEPENDENCIES_SATISFIED = "dependencies satisfied"
REASON_EVERY_STEP_SATISFIED = "every step satisfied"
REASON_STEPS_FAILED = "{failed} step(s) failed"

STEP_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.ENQUEUED, S.CANCELLED, S.RESOLVED_MANUALLY}),
    S.ENQUEUED: frozenset({S.IN_PROGRESS, S.CANCELLED}),
    S.IN_PROGRESS: frozenset(
        {
            S.COMPLETE,
            S.WAITING_FOR_RETRY,
            S.FAILED,
            S.WAITING_FOR_APPROVAL,
            S.WAITING_FOR_SUBTASK,
            S.CANCELLED,
        }
    ),
    S.WAITING_FOR_RETRY: frozenset({S.ENQUEUED, S.CANCELLED}),
    S.WAITING_FOR_APPROVAL: frozenset({S.COMPLETE, S.FAILED, S.CANCELLED}),
    S.WAITING_FOR_SUBTASK: frozenset({S.COMPLETE, S.FAILED, S.CANCELLED}),
    S.FAILED: frozenset({S.ENQUEUED, S.RESOLVED_MANUALLY}),
    S.COMPLETE: frozenset(),
    S.CANCELLED: frozenset(),
    S.RESOLVED_MANUALLY: frozenset(),
}

TASK_TERMINAL = frozenset({T.COMPLETE, T.CANCELLED})
TASK_TRANSITIONS: dict[str, frozenset[str]] = {
    T.PENDING: frozenset({T.IN_PROGRESS, T.CANCELLED}),
    T.IN_PROGRESS: frozenset({T.COMPLETE, T.FAILED, T.CANCELLED}),
    T.FAILED: frozenset({T.IN_PROGRESS, T.CANCELLED}),
    T.COMPLETE: frozenset(),
    T.CANCELLED: frozenset(),
}


def step_can_move(from_status: str, to_status: str) -> bool:
    """Return whether a step may go from ``from_status`` to ``to_status``."""
    return to_status in STEP_TRANSITIONS.get(from_status, frozenset())


def task_can_move(from_status: str, to_status: str) -> bool:
    """Return whether a task may go from ``from_status`` to ``to_status``."""
    return to_status in TASK_TRANSITIONS.get(from_status, frozenset())
