"""PostgreSQL's settle path: a completed step and its ready children in two statements.

Completing a step is the engine's other hot path. On PostgreSQL,
data-modifying CTEs let one statement do what the ORM needs several round
trips for: the fenced compare-and-set of the step *and* its transition row;
then the readiness query, the compare-and-set of every ready child to
``enqueued`` *and* their transition rows. The caller holds the task row
lock (see :mod:`workflows.engine.progress`), exactly as on the ORM path that
SQLite uses; both paths run the same tests.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from workflows.engine.states import STEP_SATISFIED, StepStatus
from workflows.models import Step, StepEdge, StepTemplate, StepTransition, Task

_STEP = Step._meta.db_table
_EDGE = StepEdge._meta.db_table
_TEMPLATE = StepTemplate._meta.db_table
_TRANSITION = StepTransition._meta.db_table
_TASK = Task._meta.db_table

_LOCK_TASK = f"SELECT status FROM {_TASK} WHERE id = %s FOR UPDATE"

_COMPLETE = f"""
WITH done AS (
    UPDATE {_STEP}
    SET status = '{StepStatus.COMPLETE}', results = %s::jsonb, error = NULL,
        lease_expires_at = NULL, completed_at = STATEMENT_TIMESTAMP(),
        updated_at = STATEMENT_TIMESTAMP()
    WHERE id = %s AND status = '{StepStatus.IN_PROGRESS}' AND attempts = %s
    RETURNING id
)
INSERT INTO {_TRANSITION} (created_at, from_status, to_status, actor_id,
    actor_label, reason, metadata, step_id, attempt)
SELECT STATEMENT_TIMESTAMP(), '{StepStatus.IN_PROGRESS}', '{StepStatus.COMPLETE}',
    NULL, %s, 'handler succeeded', '{{}}'::jsonb, id, %s
FROM done
RETURNING step_id
"""

_SATISFIED = ", ".join(f"'{status}'" for status in sorted(STEP_SATISFIED))

_ENQUEUE_READY = f"""
WITH ready AS (
    SELECT e.child_id, t.timeout_seconds
    FROM {_EDGE} e
    JOIN {_STEP} c ON c.id = e.child_id
    JOIN {_TEMPLATE} t ON t.id = c.template_id
    WHERE e.parent_id = %s AND c.status = '{StepStatus.PENDING}'
      AND NOT EXISTS (
          SELECT 1 FROM {_EDGE} e2 JOIN {_STEP} p ON p.id = e2.parent_id
          WHERE e2.child_id = e.child_id AND p.status NOT IN ({_SATISFIED})
      )
), moved AS (
    UPDATE {_STEP} s
    SET status = '{StepStatus.ENQUEUED}', enqueued_at = STATEMENT_TIMESTAMP(),
        updated_at = STATEMENT_TIMESTAMP()
    FROM ready
    WHERE s.id = ready.child_id AND s.status = '{StepStatus.PENDING}'
    RETURNING s.id, ready.timeout_seconds
), logged AS (
    INSERT INTO {_TRANSITION} (created_at, from_status, to_status, actor_id,
        actor_label, reason, metadata, step_id, attempt)
    SELECT STATEMENT_TIMESTAMP(), '{StepStatus.PENDING}', '{StepStatus.ENQUEUED}',
        NULL, %s, 'dependencies satisfied', '{{}}'::jsonb, id, 0
    FROM moved
)
SELECT id, timeout_seconds FROM moved
"""


def lock_task_status(task_id: Any) -> str | None:
    """Lock the task row; return its status (None if it is gone)."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_TASK, [task_id])
        row = cursor.fetchone()
    return row[0] if row else None


def complete_step(
    *, step_id: Any, attempt: int, results: dict[str, Any], actor_label: str
) -> bool:
    """Fenced ``in_progress → complete`` with its transition row; True if it won."""
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE, [json.dumps(results), step_id, attempt, actor_label, attempt]
        )
        return cursor.fetchone() is not None


def enqueue_ready(*, step_id: Any, actor_label: str) -> list[tuple[Any, int]]:
    """Enqueue the children of ``step_id`` now ready; return ``(id, timeout)``."""
    with connection.cursor() as cursor:
        cursor.execute(_ENQUEUE_READY, [step_id, actor_label])
        return list(cursor.fetchall())
