"""The claim as one ``UPDATE … RETURNING`` statement, per database vendor.

The claim is the hottest statement of the engine: it moves a step
``enqueued → in_progress``, counts the attempt and sets the lease from the
database clock (the step's timeout plus a grace period), and returns the
new attempt number — the fencing token — in one round trip. The ORM cannot
express ``RETURNING`` on an update, so the two dialects are written here.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from workflows.models import Step, StepTemplate, StepTransition

# PostgreSQL also writes the transition row in the same statement.
_POSTGRESQL = """
WITH claimed AS (
    UPDATE {step} SET status = 'in_progress', attempts = {step}.attempts + 1,
        lease_expires_at = STATEMENT_TIMESTAMP()
            + make_interval(secs => t.timeout_seconds + %s),
        started_at = STATEMENT_TIMESTAMP(), updated_at = STATEMENT_TIMESTAMP()
    FROM {template} AS t
    WHERE {step}.id = %s AND {step}.status = 'enqueued' AND t.id = {step}.template_id
    RETURNING {step}.id, {step}.attempts
)
INSERT INTO {transition} (created_at, from_status, to_status, actor_id,
    actor_label, reason, metadata, step_id, attempt)
SELECT STATEMENT_TIMESTAMP(), 'enqueued', 'in_progress', NULL, %s, 'claimed',
    '{{}}'::jsonb, id, attempts
FROM claimed
RETURNING attempt
"""

_SQLITE = """
UPDATE {step} SET status = 'in_progress', attempts = attempts + 1,
    lease_expires_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now',
        '+' || ((SELECT t.timeout_seconds FROM {template} AS t
                 WHERE t.id = {step}.template_id) + %s) || ' seconds'),
    started_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now'),
    updated_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now')
WHERE id = %s AND status = 'enqueued'
RETURNING attempts
"""


def claim_update(step_id: Any, grace_seconds: int, actor_label: str) -> int | None:
    """Claim ``step_id`` if it is enqueued; return its new attempt number or None.

    Writes the claim's transition row too (PostgreSQL: in the same
    statement; SQLite: right after it, in the caller's transaction).
    """
    tables = {
        "step": Step._meta.db_table,
        "template": StepTemplate._meta.db_table,
        "transition": StepTransition._meta.db_table,
    }
    pk = Step._meta.pk.get_db_prep_value(step_id, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                _POSTGRESQL.format(**tables), [grace_seconds, pk, actor_label]
            )
            row = cursor.fetchone()
            return row[0] if row else None
        cursor.execute(_SQLITE.format(**tables), [grace_seconds, pk])
        row = cursor.fetchone()
    if row is None:
        return None
    StepTransition.objects.create(
        step_id=step_id,
        from_status="enqueued",
        to_status="in_progress",
        actor_label=actor_label,
        attempt=row[0],
        reason="claimed",
    )
    return row[0]
