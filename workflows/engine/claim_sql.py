"""The claim: one ``UPDATE … RETURNING`` that also loads what the handler needs.

The claim is the hottest statement of the engine: it moves a step
``enqueued → in_progress``, counts the attempt and sets the lease from the
database clock (the step's timeout plus a grace period), and returns the
new attempt number — the fencing token. On PostgreSQL the same statement
writes the claim's transition row and returns everything the attempt needs
(the step's template, its task's context, namespace and definition, the
results of its direct parents), so a step costs one round trip to start.
SQLite runs the conditional UPDATE and then loads the rest with the ORM.

A status changes only through :mod:`workflows.engine.transitions` on the ORM
path, or through the two statements of PostgreSQL's hot path — this claim
and the settle function (:mod:`workflows.engine.settle_function`) — each
moving only along an edge of :mod:`workflows.engine.states` and writing its
transition row in the same statement (here: a data-modifying CTE; on SQLite
the same transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from audit.crypto import NO_KEY, Box
from audit.models import DataKey
from workflows.engine.states import REASON_CLAIMED, StepStatus
from workflows.models import (
    Step,
    StepEdge,
    StepTemplate,
    StepTransition,
    Task,
    WorkflowDefinition,
)


@dataclass(slots=True)
class Claim:
    """One claimed attempt of a step: the fencing token and the handler's inputs.

    ``attempts`` is the attempt number this claim holds; every settle of the
    attempt is fenced by it.
    """

    pk: Any
    task_id: Any
    name: str
    attempts: int
    max_attempts: int
    kind: str
    handler: str
    handler_config: dict[str, Any]
    timeout_seconds: int
    retryable: bool
    backoff_base_seconds: float
    backoff_max_seconds: float
    backoff_jitter: bool
    context: dict[str, Any]
    correlation_id: str
    parent_step_id: Any
    namespace_slug: str
    workflow: str
    version: str
    dependency_results: dict[str, Any] = field(default_factory=dict)
    # On whose behalf the worker runs the attempt (the task's initiator).
    initiator_label: str = ""
    # The task's data key as the claim read it (personal values in
    # ``context`` and ``dependency_results`` are tokens under it until
    # :func:`workflows.engine.sealing.open_claim` opens them into ``box``).
    definition_id: Any = None
    data_key_id: Any = None
    data_key_wrapped: bytes | memoryview | None = None
    data_key_master: str = ""
    box: Box = NO_KEY


_TABLES = {
    "step": Step._meta.db_table,
    "template": StepTemplate._meta.db_table,
    "transition": StepTransition._meta.db_table,
    "edge": StepEdge._meta.db_table,
    "task": Task._meta.db_table,
    "definition": WorkflowDefinition._meta.db_table,
    "namespace": Task._meta.get_field("namespace").related_model._meta.db_table,
    "data_key": DataKey._meta.db_table,
}

# The statuses and the reason the claim writes come from the state machine.
_NAMES = {
    **_TABLES,
    "enqueued": StepStatus.ENQUEUED.value,
    "in_progress": StepStatus.IN_PROGRESS.value,
    "claimed": REASON_CLAIMED,
}

# The subquery reads the parents' results from the statement's snapshot:
# a child is enqueued only after its parents' completions committed.
_POSTGRESQL = """
WITH claimed AS (
    UPDATE {step} SET status = '{in_progress}', attempts = {step}.attempts + 1,
        lease_expires_at = STATEMENT_TIMESTAMP()
            + make_interval(secs => t.timeout_seconds + %s),
        started_at = STATEMENT_TIMESTAMP(), updated_at = STATEMENT_TIMESTAMP()
    FROM {template} AS t
    WHERE {step}.id = %s AND {step}.status = '{enqueued}'
        AND t.id = {step}.template_id
    RETURNING {step}.id, {step}.attempts, {step}.task_id, {step}.name,
        {step}.max_attempts, {step}.template_id
), logged AS (
    INSERT INTO {transition} (created_at, from_status, to_status, actor_id,
        actor_label, reason, metadata, step_id, attempt)
    SELECT STATEMENT_TIMESTAMP(), '{enqueued}', '{in_progress}', NULL, %s,
        '{claimed}',
        '{{}}'::jsonb, id, attempts
    FROM claimed
)
SELECT c.id, c.task_id, c.name, c.attempts, c.max_attempts, t.kind, t.handler,
    t.handler_config::text, t.timeout_seconds, t.retryable,
    t.backoff_base_seconds, t.backoff_max_seconds, t.backoff_jitter,
    k.context::text, k.correlation_id, k.parent_step_id, n.slug, d.name, d.version,
    CASE WHEN jsonb_array_length(t.depends_on) > 0 THEN (
        SELECT jsonb_object_agg(p.name, p.results)::text
        FROM {edge} e JOIN {step} p ON p.id = e.parent_id
        WHERE e.child_id = c.id
    ) END,
    k.initiator_label, k.definition_id, k.data_key_id, dk.wrapped, dk.master_id
FROM claimed c
CROSS JOIN (SELECT set_config('synchronous_commit', %s, true)) AS commit_mode
JOIN {template} t ON t.id = c.template_id
JOIN {task} k ON k.id = c.task_id
JOIN {definition} d ON d.id = k.definition_id
JOIN {namespace} n ON n.id = k.namespace_id
LEFT JOIN {data_key} dk ON dk.id = k.data_key_id
"""

_SQLITE = """
UPDATE {step} SET status = '{in_progress}', attempts = attempts + 1,
    lease_expires_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now',
        '+' || ((SELECT t.timeout_seconds FROM {template} AS t
                 WHERE t.id = {step}.template_id) + %s) || ' seconds'),
    started_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now'),
    updated_at = STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'now')
WHERE id = %s AND status = '{enqueued}'
RETURNING attempts
"""


def claim(
    step_id: Any,
    grace_seconds: int,
    actor_label: str,
    synchronous_commit: str = "on",
) -> Claim | None:
    """Claim ``step_id`` if it is enqueued; return the attempt, or None.

    Writes the claim's transition row too. Run it in autocommit mode (no
    transaction open) so the claim is committed when it returns: the lease
    must be visible to the sweeper while the handler runs.
    ``synchronous_commit`` applies to this statement's transaction only
    (PostgreSQL; the executor passes ``off``, see ``executor.claim_step``).
    """
    pk = Step._meta.pk.get_db_prep_value(step_id, connection)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _POSTGRESQL.format(**_NAMES),
                [grace_seconds, pk, actor_label, synchronous_commit],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return Claim(
            pk=row[0],
            task_id=row[1],
            name=row[2],
            attempts=row[3],
            max_attempts=row[4],
            kind=row[5],
            handler=row[6],
            handler_config=_json(row[7]) or {},
            timeout_seconds=row[8],
            retryable=row[9],
            backoff_base_seconds=row[10],
            backoff_max_seconds=row[11],
            backoff_jitter=row[12],
            context=_json(row[13]) or {},
            correlation_id=row[14],
            parent_step_id=row[15],
            namespace_slug=row[16],
            workflow=row[17],
            version=row[18],
            dependency_results=_json(row[19]) or {},
            initiator_label=row[20],
            definition_id=row[21],
            data_key_id=row[22],
            data_key_wrapped=row[23],
            data_key_master=row[24] or "",
        )
    return _claim_sqlite(step_id, pk, grace_seconds, actor_label)


def _json(value: Any) -> Any:
    # Django registers jsonb to load as text; decode here, once.
    return json.loads(value) if isinstance(value, str | bytes) else value


def load_step(step_id: Any) -> Step:
    """Return the step with its template, task, definition and namespace.

    The definition's schema and example can be large and nothing on the
    step's path needs them: they are not loaded.
    """
    return (
        Step.objects.select_related(
            "template", "task", "task__definition", "task__namespace", "task__data_key"
        )
        .defer(
            "task__definition__context_schema",
            "task__definition__example_context",
            "task__definition__description",
            "template__description",
        )
        .get(pk=step_id)
    )


def _claim_sqlite(
    step_id: Any, pk: Any, grace_seconds: int, actor_label: str
) -> Claim | None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_SQLITE.format(**_NAMES), [grace_seconds, pk])
            row = cursor.fetchone()
        if row is None:
            return None
        StepTransition.objects.create(
            step_id=step_id,
            from_status=StepStatus.ENQUEUED,
            to_status=StepStatus.IN_PROGRESS,
            actor_label=actor_label,
            attempt=row[0],
            reason=REASON_CLAIMED,
        )
    return attempt_of(load_step(step_id), attempt=row[0])


def attempt_of(step: Step, *, attempt: int) -> Claim:
    """Return attempt ``attempt`` of ``step`` (loaded by :func:`load_step`) as a Claim.

    The SQLite claim and the sweeper (which fails the attempt of an expired
    lease) describe an attempt with the same type as the PostgreSQL claim.
    """
    template, task = step.template, step.task
    dependency_results = (
        dict(
            Step.objects.filter(child_edges__child_id=step.pk).values_list(
                "name", "results"
            )
        )
        if template.depends_on
        else {}
    )
    return Claim(
        pk=step.pk,
        task_id=step.task_id,
        name=step.name,
        attempts=attempt,  # this claim's attempt, whatever happened since
        max_attempts=step.max_attempts,
        kind=template.kind,
        handler=template.handler,
        handler_config=template.handler_config,
        timeout_seconds=template.timeout_seconds,
        retryable=template.retryable,
        backoff_base_seconds=template.backoff_base_seconds,
        backoff_max_seconds=template.backoff_max_seconds,
        backoff_jitter=template.backoff_jitter,
        context=task.context,
        correlation_id=task.correlation_id,
        parent_step_id=task.parent_step_id,
        namespace_slug=task.namespace.slug,
        workflow=task.definition.name,
        version=task.definition.version,
        dependency_results=dependency_results,
        initiator_label=task.initiator_label,
        definition_id=task.definition_id,
        data_key_id=task.data_key_id,
        data_key_wrapped=task.data_key.wrapped if task.data_key else None,
        data_key_master=task.data_key.master_id if task.data_key else "",
    )
