"""Growth: the per-step overhead on an empty history and on a million tasks."""

from __future__ import annotations

import time
from typing import Any

from bench.cases import engine_throughput
from bench.config import QUICK, log
from bench.in_process import step_cost
from bench.measure import median_run


def insert_history(count: int) -> float:
    """Insert ``count`` finished historical tasks (with steps and transitions)."""
    from django.db import connection

    from workflows.models import WorkflowDefinition

    definition = WorkflowDefinition.objects.get(namespace__slug="bench", name="noop_1")
    template = definition.step_templates.get()
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO workflows_task (id, namespace_id, definition_id, status, context,
                initiator_label, source_system, reason, tags, correlation_id,
                idempotency_key, request_hash, created_at, updated_at, started_at,
                completed_at)
            SELECT gen_random_uuid(), %s, %s, 'complete', '{}', 'history', '', 'history',
                '[]', md5(i::text), NULL, '', ts, ts, ts, ts + interval '40 ms'
            FROM (SELECT i, now() - (i * interval '1 second') AS ts
                  FROM generate_series(1, %s) AS i) AS g
            """,
            [definition.namespace_id, definition.pk, count],
        )
        cursor.execute(
            """
            INSERT INTO workflows_step (id, task_id, template_id, name, status, attempts,
                max_attempts, results, created_at, updated_at, started_at, completed_at,
                enqueued_at, decision, decision_comment, waiting_on)
            SELECT gen_random_uuid(), t.id, %s, 'only', 'complete', 1, 3, '{}',
                t.created_at, t.created_at, t.created_at, t.completed_at, t.created_at,
                '', '', 0
            FROM workflows_task t WHERE t.reason = 'history'
            """,
            [template.pk],
        )
        cursor.execute(
            """
            INSERT INTO workflows_steptransition (created_at, from_status, to_status,
                actor_label, reason, metadata, step_id, attempt)
            SELECT s.created_at, x.f, x.t, 'system:worker', '', '{}', s.id, 1
            FROM workflows_step s
            JOIN workflows_task t ON t.id = s.task_id AND t.reason = 'history'
            CROSS JOIN (VALUES ('enqueued', 'in_progress'), ('in_progress', 'complete'))
                AS x(f, t)
            """
        )
        cursor.execute(
            """
            INSERT INTO workflows_tasktransition (created_at, from_status, to_status,
                actor_label, reason, metadata, task_id)
            SELECT created_at, 'in_progress', 'complete', 'system:worker', '', '{}', id
            FROM workflows_task WHERE reason = 'history'
            """
        )
        cursor.execute("ANALYZE")
    return time.perf_counter() - began


def measure_growth() -> dict[str, Any]:
    """Measure the per-step overhead before and after inserting the history.

    Needs the worker running (the end-to-end throughput runs on it).
    """
    growth_n = 300 if QUICK else 1000
    log("growth: per-step overhead on an empty history")
    empty = median_run(engine_throughput, "noop_1", growth_n, 1)
    empty_step = median_run(step_cost, growth_n)
    history = 100_000 if QUICK else 1_000_000
    log(f"growth: inserting {history:,} historical tasks")
    insert_seconds = insert_history(history)
    log("growth: per-step overhead with the history")
    full = median_run(engine_throughput, "noop_1", growth_n, 1)
    full_step = median_run(step_cost, growth_n)
    return {
        "history_tasks": history,
        "insert_seconds": insert_seconds,
        # The engine's own per-step work: claim + run + settle, in process.
        "empty_ms_per_step": empty_step["ms_per_step"],
        "full_ms_per_step": full_step["ms_per_step"],
        "ratio": full_step["ms_per_step"] / empty_step["ms_per_step"],
        # End to end with the worker, starting the tasks included.
        "empty_throughput_ms_per_step": 1000 / empty["steps_per_second"],
        "full_throughput_ms_per_step": 1000 / full["steps_per_second"],
        "throughput_ratio": empty["steps_per_second"] / full["steps_per_second"],
    }
