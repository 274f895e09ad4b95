"""Use cases that change workflow state: thin over the engine, one per action.

Each service takes the acting party explicitly, checks the actor's namespace
role before opening its transaction (so a refusal's audit record survives),
writes its audit event in the same transaction as the change, and publishes
wake-ups only after commit.
"""

from workflows.services.approvals import step_approve, step_reject
from workflows.services.steps import step_resolve, step_retry
from workflows.services.tasks import (
    task_cancel,
    task_start,
    task_start_many,
)

__all__ = [
    "step_approve",
    "step_reject",
    "step_resolve",
    "step_retry",
    "task_cancel",
    "task_start",
    "task_start_many",
]
