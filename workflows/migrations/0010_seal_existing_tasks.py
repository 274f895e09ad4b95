"""Seal the personal values of tasks written before encryption at rest.

Each task without a data key gets one (its subject: the e-mail its context
names) and, under it, its context, its steps' results and approval
requests, and its transitions' metadata are sealed; reasons, comments and
errors are rewritten with the task's personal values masked. Batches of
500 tasks. Audit events are hash-chained and append-only: the ones written
before this migration keep what they held (docs/compliance.md, Limits).

Not reversible: going back would drop the data keys the tokens need.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from audit import crypto
from audit.pii import Redactor, definition_pii_keys, pii_values, subject_of

BATCH = 500


def seal(apps: Any, schema_editor: Any) -> None:
    """Give every task a data key and seal its personal values under it."""
    task_model = apps.get_model("workflows", "Task")
    step_model = apps.get_model("workflows", "Step")
    step_transition = apps.get_model("workflows", "StepTransition")
    task_transition = apps.get_model("workflows", "TaskTransition")
    data_key_model = apps.get_model("audit", "DataKey")
    definition_model = apps.get_model("workflows", "WorkflowDefinition")
    keys_of: dict[Any, frozenset[str]] = {}
    while True:
        tasks = list(
            task_model.objects.filter(data_key__isnull=True).order_by("pk")[:BATCH]
        )
        if not tasks:
            return
        steps = list(step_model.objects.filter(task__in=tasks))
        step_rows: dict[Any, list[Any]] = {}
        for step in steps:
            step_rows.setdefault(step.task_id, []).append(step)
        step_moves = list(step_transition.objects.filter(step__in=steps))
        task_moves = list(task_transition.objects.filter(task__in=tasks))
        boxes: dict[Any, tuple[crypto.Box, frozenset[str], Redactor]] = {}
        for task in tasks:
            if task.definition_id not in keys_of:
                keys_of[task.definition_id] = definition_pii_keys(
                    definition_model.objects.get(pk=task.definition_id)
                )
            keys = keys_of[task.definition_id]
            own = step_rows.get(task.pk, [])
            values = pii_values(
                [task.context, *[(s.results, s.approval_request) for s in own]], keys
            )
            row, box = crypto.new_key(
                owner_type="workflows.task",
                owner_id=task.pk,
                subject=subject_of(task.context, keys),
            )
            data_key_model.objects.create(
                id=row.pk,
                owner_type=row.owner_type,
                owner_id=row.owner_id,
                subject_index=row.subject_index,
                wrapped=row.wrapped,
                master_id=row.master_id,
            )
            scrub = Redactor(keys=keys, values=values)
            boxes[task.pk] = (box, keys, scrub)
            task.data_key_id = row.pk
            task.context = box.seal(task.context, keys)
            task.reason = scrub.text(task.reason)
        for step in steps:
            box, keys, scrub = boxes[step.task_id]
            step.results = box.seal(step.results, keys)
            if isinstance(step.approval_request, dict):
                request = box.seal(step.approval_request, keys)
                if isinstance(request.get("reason"), str):
                    request["reason"] = scrub.text(request["reason"])
                step.approval_request = request
            step.error = scrub.error(step.error)
            step.decision_comment = scrub.text(step.decision_comment)
        task_of = {step.pk: step.task_id for step in steps}
        for move in step_moves:
            box, keys, scrub = boxes[task_of[move.step_id]]
            move.reason = scrub.text(move.reason)
            move.metadata = box.seal(move.metadata, keys)
        for move in task_moves:
            box, keys, scrub = boxes[move.task_id]
            move.reason = scrub.text(move.reason)
            move.metadata = box.seal(move.metadata, keys)
        task_model.objects.bulk_update(tasks, ["data_key", "context", "reason"])
        step_model.objects.bulk_update(
            steps, ["results", "approval_request", "error", "decision_comment"]
        )
        step_transition.objects.bulk_update(step_moves, ["reason", "metadata"])
        task_transition.objects.bulk_update(task_moves, ["reason", "metadata"])


class Migration(migrations.Migration):
    dependencies = [("workflows", "0009_task_data_key"), ("audit", "0006_data_keys")]

    operations = [migrations.RunPython(seal, elidable=False)]
