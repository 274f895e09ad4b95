"""The text of ``tasker_step_complete``, PostgreSQL's settle, written from states.py.

The function (called by :mod:`workflows.engine.settle_sql`) moves statuses
itself, so it must agree with the state machine the ORM path follows: the
active and satisfied status sets, the finish rule's statuses, the reasons
of the transitions it writes and the tables it writes them to. They are not
written here; :func:`SettleValues.current` reads them from
:mod:`workflows.engine.states` and the models' ``_meta.db_table``, and
:func:`function_sql` renders the ``CREATE OR REPLACE FUNCTION`` from them.

A migration installs the function with the values frozen in the migration
(as a migration freezes a model's fields) and the fingerprint of the text it
installed, so a database keeps the function its migrations gave it. Changing
states.py, a table name, a reason or the text below therefore needs a new
migration that calls :func:`install` with the new values; the test
``tests/workflows/engine/test_settle_function.py`` fails until one exists
and prints what to put in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from workflows.engine import states
from workflows.models import (
    Step,
    StepEdge,
    StepTemplate,
    StepTransition,
    Task,
    TaskTransition,
)

NAME = "tasker_step_complete"
ARGUMENTS = (
    "p_step uuid, p_task uuid, p_attempt integer, p_results jsonb, p_actor text, "
    "p_synchronous_commit text"
)
RESULT = "TABLE(child_id uuid, timeout_seconds integer, outcome text)"
DROP = f"DROP FUNCTION IF EXISTS {NAME}(uuid, uuid, integer, jsonb, text, text);"

# What each row the function returns says (read by settle_sql.step_complete).
OUTCOME_FENCED = "fenced"
OUTCOME_ENQUEUED = "enqueued"
OUTCOME_TASK_PREFIX = "task_"  # followed by the status the task finished in


@dataclass(frozen=True, slots=True)
class SettleValues:
    """Everything the function's text takes from the state machine and the models.

    Plain strings and tuples, so a migration can freeze them as a literal.
    """

    task_table: str
    step_table: str
    edge_table: str
    template_table: str
    step_transition_table: str
    task_transition_table: str
    step_pending: str
    step_enqueued: str
    step_in_progress: str
    step_complete: str
    step_failed: str
    step_active: tuple[str, ...]
    step_satisfied: tuple[str, ...]
    task_in_progress: str
    task_complete: str
    task_failed: str
    reason_step_complete: str
    reason_child_enqueued: str
    reason_task_complete: str
    reason_task_failed: str  # "{failed}" stands for the number of failed steps

    @classmethod
    def current(cls) -> SettleValues:
        """Return the values of today's states.py and models."""
        step, task = states.StepStatus, states.TaskStatus
        return cls(
            task_table=Task._meta.db_table,
            step_table=Step._meta.db_table,
            edge_table=StepEdge._meta.db_table,
            template_table=StepTemplate._meta.db_table,
            step_transition_table=StepTransition._meta.db_table,
            task_transition_table=TaskTransition._meta.db_table,
            step_pending=step.PENDING.value,
            step_enqueued=step.ENQUEUED.value,
            step_in_progress=step.IN_PROGRESS.value,
            step_complete=step.COMPLETE.value,
            step_failed=step.FAILED.value,
            step_active=_in_declared_order(states.STEP_ACTIVE),
            step_satisfied=_in_declared_order(states.STEP_SATISFIED),
            task_in_progress=task.IN_PROGRESS.value,
            task_complete=task.COMPLETE.value,
            task_failed=task.FAILED.value,
            reason_step_complete=states.REASON_HANDLER_SUCCEEDED,
            reason_child_enqueued=states.REASON_DEPENDENCIES_SATISFIED,
            reason_task_complete=states.REASON_EVERY_STEP_SATISFIED,
            reason_task_failed=states.REASON_STEPS_FAILED,
        )

    def as_literal(self) -> dict[str, Any]:
        """Return the values as a dict, to paste into a migration."""
        return asdict(self)


def _in_declared_order(statuses: Iterable[str]) -> tuple[str, ...]:
    # A stable order, so the same states give the same text.
    wanted = set(statuses)
    return tuple(s.value for s in states.StepStatus if s in wanted)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(statuses: Iterable[str]) -> str:
    return ", ".join(_literal(s) for s in statuses)


def _failed_reason(template: str) -> str:
    """Render ``"{failed} step(s) failed"`` as a SQL expression of ``v_failed``."""
    before, marker, after = template.partition("{failed}")
    if not marker:
        return _literal(template)
    parts = [_literal(before)] if before else []
    parts.append("v_failed")
    if after:
        parts.append(_literal(after))
    return " || ".join(parts)


# Doubled braces are literal; the text is today's function, with every
# status, reason and table name a placeholder.
_BODY = """
DECLARE
    v_task_status text;
    v_total integer;
    v_satisfied integer;
    v_failed integer;
    v_target text;
    v_reason text;
BEGIN
    -- The worker's setting for its own bookkeeping (TASKER_WORKER_SYNCHRONOUS_COMMIT).
    PERFORM set_config('synchronous_commit', p_synchronous_commit, true);
    -- Serialise the settles of one task: every statement below sees each
    -- sibling that committed before this lock was granted.
    SELECT t.status INTO v_task_status
    FROM {task_table} t WHERE t.id = p_task FOR UPDATE;

    UPDATE {step_table} s
    SET status = {step_complete}, results = p_results, error = NULL,
        lease_expires_at = NULL, completed_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE s.id = p_step AND s.status = {step_in_progress} AND s.attempts = p_attempt;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::uuid, NULL::integer, {outcome_fenced}::text;
        RETURN;
    END IF;
    INSERT INTO {step_transition_table} (created_at, from_status, to_status,
        actor_id, actor_label, reason, metadata, step_id, attempt)
    VALUES (statement_timestamp(), {step_in_progress}, {step_complete}, NULL, p_actor,
        {reason_step_complete}, '{{}}'::jsonb, p_step, p_attempt);

    -- Each child now waits on one parent fewer; a pending child that waits
    -- on none is enqueued, in the same UPDATE (a row is updated once).
    RETURN QUERY
    WITH counted AS (
        UPDATE {step_table} c
        SET waiting_on = c.waiting_on - 1,
            status = CASE WHEN c.waiting_on = 1 AND c.status = {step_pending}
                          THEN {step_enqueued} ELSE c.status END,
            enqueued_at = CASE WHEN c.waiting_on = 1 AND c.status = {step_pending}
                               THEN statement_timestamp() ELSE c.enqueued_at END,
            updated_at = statement_timestamp()
        FROM {edge_table} e
        WHERE e.parent_id = p_step AND c.id = e.child_id
        RETURNING c.id, c.template_id,
            c.waiting_on = 0 AND c.status = {step_enqueued}
                AND c.enqueued_at = statement_timestamp() AS moved_now
    ), moved AS (
        SELECT counted.id, t.timeout_seconds
        FROM counted JOIN {template_table} t ON t.id = counted.template_id
        WHERE counted.moved_now
    ), logged AS (
        INSERT INTO {step_transition_table} (created_at, from_status, to_status,
            actor_id, actor_label, reason, metadata, step_id, attempt)
        SELECT statement_timestamp(), {step_pending}, {step_enqueued}, NULL, p_actor,
            {reason_child_enqueued}, '{{}}'::jsonb, moved.id, 0
        FROM moved
    )
    SELECT moved.id, moved.timeout_seconds, {outcome_enqueued}::text FROM moved;
    -- A child just enqueued keeps the task open: only a step that enqueued
    -- nothing can be the task's last.
    IF FOUND OR v_task_status IS DISTINCT FROM {task_in_progress} THEN
        RETURN;
    END IF;
    IF EXISTS (
        SELECT 1 FROM {step_table} s
        WHERE s.task_id = p_task AND s.status IN ({step_active})
    ) THEN
        RETURN;
    END IF;
    SELECT count(*),
        count(*) FILTER (WHERE s.status IN ({step_satisfied})),
        count(*) FILTER (WHERE s.status = {step_failed})
    INTO v_total, v_satisfied, v_failed
    FROM {step_table} s WHERE s.task_id = p_task;
    IF v_satisfied = v_total THEN
        v_target := {task_complete};
        v_reason := {reason_task_complete};
    ELSIF v_failed > 0 THEN
        v_target := {task_failed};
        v_reason := {reason_task_failed};
    ELSE
        RETURN;
    END IF;
    UPDATE {task_table} t
    SET status = v_target, completed_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE t.id = p_task AND t.status = {task_in_progress};
    IF FOUND THEN
        INSERT INTO {task_transition_table} (created_at, from_status, to_status,
            actor_id, actor_label, reason, metadata, task_id)
        VALUES (statement_timestamp(), {task_in_progress}, v_target, NULL, p_actor,
            v_reason, '{{}}'::jsonb, p_task);
        RETURN QUERY SELECT NULL::uuid, NULL::integer,
            ({outcome_task_prefix} || v_target)::text;
    END IF;
END
"""


def function_body(values: SettleValues) -> str:
    """Return the PL/pgSQL body (``pg_proc.prosrc`` once installed)."""
    tables = {
        key: getattr(values, key)
        for key in (
            "task_table",
            "step_table",
            "edge_table",
            "template_table",
            "step_transition_table",
            "task_transition_table",
        )
    }
    literals = {
        key: _literal(getattr(values, key))
        for key in (
            "step_pending",
            "step_enqueued",
            "step_in_progress",
            "step_complete",
            "step_failed",
            "task_in_progress",
            "task_complete",
            "task_failed",
            "reason_step_complete",
            "reason_child_enqueued",
            "reason_task_complete",
        )
    }
    return _BODY.format(
        **tables,
        **literals,
        step_active=_list(values.step_active),
        step_satisfied=_list(values.step_satisfied),
        reason_task_failed=_failed_reason(values.reason_task_failed),
        outcome_fenced=_literal(OUTCOME_FENCED),
        outcome_enqueued=_literal(OUTCOME_ENQUEUED),
        outcome_task_prefix=_literal(OUTCOME_TASK_PREFIX),
    )


def function_sql(values: SettleValues | None = None) -> str:
    """Return the ``CREATE OR REPLACE FUNCTION`` for ``values`` (default: today's)."""
    body = function_body(values or SettleValues.current())
    return (
        f"CREATE OR REPLACE FUNCTION {NAME}(\n    {ARGUMENTS}\n) RETURNS {RESULT}\n"
        f"LANGUAGE plpgsql VOLATILE AS $fn${body}$fn$;\n"
    )


def fingerprint(values: SettleValues | None = None) -> str:
    """Return the SHA-256 of the function's text, which a migration records."""
    return hashlib.sha256(function_sql(values).encode()).hexdigest()


def install(schema_editor: Any, values: SettleValues) -> None:
    """Create or replace the function with ``values`` (PostgreSQL; else nothing).

    Call it from a migration's ``RunPython`` with the values frozen in that
    migration, never with :meth:`SettleValues.current`: a migration must
    install the same text whenever it runs.
    """
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(function_sql(values))
