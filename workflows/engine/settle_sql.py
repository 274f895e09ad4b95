"""PostgreSQL's settle path: a completed step in one round trip.

Completing a step is the engine's other hot path. On PostgreSQL it is one
call of ``tasker_step_complete``: under the task's row lock it completes the
step fenced by its attempt, writes the transition, enqueues every child now
ready with their transitions and, when nothing is left moving, finishes the
task. SQLite runs the same logic through the ORM (see
:mod:`workflows.engine.progress`); both run the same tests.

The function's text is generated from :mod:`workflows.engine.states` and the
models' tables by :mod:`workflows.engine.settle_function` and installed by a
migration (0007 and any later one calling ``settle_function.install``).

A status changes only through :mod:`workflows.engine.transitions` on the ORM
path, or through PostgreSQL's two hot-path statements: the claim in
:mod:`workflows.engine.claim_sql` (``enqueued → in_progress``) and this
settle, whose statuses, reasons and tables come from states.py and the
models. Each writes its transition rows in the same statement or
transaction as the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from workflows.engine.settle_function import (
    OUTCOME_ENQUEUED,
    OUTCOME_FENCED,
    OUTCOME_TASK_PREFIX,
)


@dataclass(slots=True)
class Settled:
    """What completing one attempt did."""

    fenced: bool = False
    ready: list[tuple[Any, int]] = field(default_factory=list)
    task_status: str | None = None  # set when this completion finished the task


def step_complete(
    *,
    step_id: Any,
    task_id: Any,
    attempt: int,
    results: dict[str, Any],
    actor: str,
    synchronous_commit: str = "on",
) -> Settled:
    """Complete ``step_id``'s attempt and move its task on, in one call."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child_id, timeout_seconds, outcome "
            "FROM tasker_step_complete(%s, %s, %s, %s::jsonb, %s, %s)",
            [step_id, task_id, attempt, json.dumps(results), actor, synchronous_commit],
        )
        rows = cursor.fetchall()
    settled = Settled()
    for child_id, timeout, outcome in rows:
        if outcome == OUTCOME_FENCED:
            settled.fenced = True
        elif outcome == OUTCOME_ENQUEUED:
            settled.ready.append((child_id, timeout))
        else:
            settled.task_status = outcome.removeprefix(OUTCOME_TASK_PREFIX)
    return settled
