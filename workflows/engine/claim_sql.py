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

from workflows.models import Step, StepTemplate

_POSTGRESQL = """
UPDATE {step} SET status = 'in_progress', attempts = {step}.attempts + 1,
    lease_expires_at = STATEMENT_TIMESTAMP()
        + make_interval(secs => t.timeout_seconds + %s),
    started_at = STATEMENT_TIMESTAMP(), updated_at = STATEMENT_TIMESTAMP()
FROM {template} AS t
WHERE {step}.id = %s AND {step}.status = 'enqueued' AND t.id = {step}.template_id
RETURNING {step}.attempts
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


def claim_update(step_id: Any, grace_seconds: int) -> int | None:
    """Claim ``step_id`` if it is enqueued; return its new attempt number or None."""
    template = _POSTGRESQL if connection.vendor == "postgresql" else _SQLITE
    sql = template.format(
        step=Step._meta.db_table, template=StepTemplate._meta.db_table
    )
    pk = Step._meta.pk.get_db_prep_value(step_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [grace_seconds, pk])
        row = cursor.fetchone()
    return row[0] if row else None
