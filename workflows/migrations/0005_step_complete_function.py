"""PostgreSQL: settle a completed step in one round trip (``tasker_step_complete``).

Completing a step must, under the task's row lock, complete the step (fenced
by its attempt), write its transition, enqueue every child whose parents are
now all satisfied (with their transitions) and, when nothing is left moving,
finish the task. Each of those statements must see the commits of sibling
steps that settled before the lock was granted, so the lock must be taken by
an earlier statement than the readiness query: a single SQL statement cannot
do it, a PL/pgSQL function can (in READ COMMITTED each statement of a
volatile function takes a new snapshot). Called in autocommit mode, the
whole settle is one round trip and one commit. SQLite runs the same logic
through the ORM (``workflows.engine.progress``); both run the same tests.

Readiness uses ``Step.waiting_on`` (migration 0004): a parent's completion
decrements its children and enqueues those left waiting on none, so a
settle touches one row per child however many parents a fan-in has.

The status lists are those of ``workflows.engine.states``:
satisfied = complete, resolved_manually; active = enqueued, in_progress,
waiting_for_retry, waiting_for_approval, waiting_for_subtask.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION tasker_step_complete(
    p_step uuid, p_task uuid, p_attempt integer, p_results jsonb, p_actor text,
    p_synchronous_commit text
) RETURNS TABLE (child_id uuid, timeout_seconds integer, outcome text)
LANGUAGE plpgsql VOLATILE AS $fn$
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
    FROM workflows_task t WHERE t.id = p_task FOR UPDATE;

    UPDATE workflows_step s
    SET status = 'complete', results = p_results, error = NULL,
        lease_expires_at = NULL, completed_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE s.id = p_step AND s.status = 'in_progress' AND s.attempts = p_attempt;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::uuid, NULL::integer, 'fenced'::text;
        RETURN;
    END IF;
    INSERT INTO workflows_steptransition (created_at, from_status, to_status,
        actor_id, actor_label, reason, metadata, step_id, attempt)
    VALUES (statement_timestamp(), 'in_progress', 'complete', NULL, p_actor,
        'handler succeeded', '{}'::jsonb, p_step, p_attempt);

    -- Each child now waits on one parent fewer; a pending child that waits
    -- on none is enqueued, in the same UPDATE (a row is updated once).
    RETURN QUERY
    WITH counted AS (
        UPDATE workflows_step c
        SET waiting_on = c.waiting_on - 1,
            status = CASE WHEN c.waiting_on = 1 AND c.status = 'pending'
                          THEN 'enqueued' ELSE c.status END,
            enqueued_at = CASE WHEN c.waiting_on = 1 AND c.status = 'pending'
                               THEN statement_timestamp() ELSE c.enqueued_at END,
            updated_at = statement_timestamp()
        FROM workflows_stepedge e
        WHERE e.parent_id = p_step AND c.id = e.child_id
        RETURNING c.id, c.template_id,
            c.waiting_on = 0 AND c.status = 'enqueued'
                AND c.enqueued_at = statement_timestamp() AS moved_now
    ), moved AS (
        SELECT counted.id, t.timeout_seconds
        FROM counted JOIN workflows_steptemplate t ON t.id = counted.template_id
        WHERE counted.moved_now
    ), logged AS (
        INSERT INTO workflows_steptransition (created_at, from_status, to_status,
            actor_id, actor_label, reason, metadata, step_id, attempt)
        SELECT statement_timestamp(), 'pending', 'enqueued', NULL, p_actor,
            'dependencies satisfied', '{}'::jsonb, moved.id, 0
        FROM moved
    )
    SELECT moved.id, moved.timeout_seconds, 'enqueued'::text FROM moved;
    -- A child just enqueued keeps the task open: only a step that enqueued
    -- nothing can be the task's last.
    IF FOUND OR v_task_status IS DISTINCT FROM 'in_progress' THEN
        RETURN;
    END IF;
    IF EXISTS (
        SELECT 1 FROM workflows_step s
        WHERE s.task_id = p_task AND s.status IN ('enqueued', 'in_progress',
            'waiting_for_retry', 'waiting_for_approval', 'waiting_for_subtask')
    ) THEN
        RETURN;
    END IF;
    SELECT count(*),
        count(*) FILTER (WHERE s.status IN ('complete', 'resolved_manually')),
        count(*) FILTER (WHERE s.status = 'failed')
    INTO v_total, v_satisfied, v_failed
    FROM workflows_step s WHERE s.task_id = p_task;
    IF v_satisfied = v_total THEN
        v_target := 'complete';
        v_reason := 'every step satisfied';
    ELSIF v_failed > 0 THEN
        v_target := 'failed';
        v_reason := v_failed || ' step(s) failed';
    ELSE
        RETURN;
    END IF;
    UPDATE workflows_task t
    SET status = v_target, completed_at = statement_timestamp(),
        updated_at = statement_timestamp()
    WHERE t.id = p_task AND t.status = 'in_progress';
    IF FOUND THEN
        INSERT INTO workflows_tasktransition (created_at, from_status, to_status,
            actor_id, actor_label, reason, metadata, task_id)
        VALUES (statement_timestamp(), 'in_progress', v_target, NULL, p_actor,
            v_reason, '{}'::jsonb, p_task);
        RETURN QUERY SELECT NULL::uuid, NULL::integer, ('task_' || v_target)::text;
    END IF;
END
$fn$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS "
    "tasker_step_complete(uuid, uuid, integer, jsonb, text, text);"
)


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_step_waiting_on"),
    ]

    operations = [migrations.RunPython(create_function, drop_function)]
