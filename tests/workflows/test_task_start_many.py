"""Starting many tasks of one workflow at once: all or none, each one audited."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tasker_project.core.actors import Actor
from tasker_project.core.errors import ContextValidationError, NotFound, TaskerError
from tests.factories import NamespaceFactory, UserFactory, step_of
from workflows.engine.executor import execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, StepEdge, StepTransition, Task, TaskTransition
from workflows.services import task_start_many
from workflows.services.tasks import MAX_BATCH

SYSTEM = Actor.system_actor("test")


@pytest.mark.django_db
def test_every_task_gets_its_steps_edges_transitions_and_audit_event(synced):
    tasks = task_start_many(
        namespace="testing",
        workflow="diamond",
        contexts=[{"start": n} for n in range(5)],
        actor=SYSTEM,
        reason="backfill",
    )
    assert [t.context["start"] for t in tasks] == [0, 1, 2, 3, 4]
    ids = [t.pk for t in tasks]
    assert Task.objects.filter(pk__in=ids, status=TaskStatus.IN_PROGRESS).count() == 5
    assert Step.objects.filter(task_id__in=ids).count() == 5 * 4
    assert StepEdge.objects.filter(task_id__in=ids).count() == 5 * 4
    assert Step.objects.filter(task_id__in=ids, status=StepStatus.ENQUEUED).count() == 5
    assert TaskTransition.objects.filter(task_id__in=ids, reason="started").count() == 5
    assert (
        StepTransition.objects.filter(
            step__task_id__in=ids, to_status=StepStatus.ENQUEUED
        ).count()
        == 5
    )
    events = AuditEvent.objects.filter(action="task.started", reason="backfill")
    assert sorted(events.values_list("object_id", flat=True)) == sorted(
        str(pk) for pk in ids
    )
    # Each task has its own steps: edges never cross tasks.
    for edge in StepEdge.objects.filter(task_id__in=ids).select_related(
        "parent", "child"
    ):
        assert edge.parent.task_id == edge.child.task_id == edge.task_id


@pytest.mark.django_db
def test_batch_started_tasks_run_to_completion(synced):
    tasks = task_start_many(
        namespace="testing",
        workflow="chain",
        contexts=[{"start": 1}, {"start": 10}],
        actor=SYSTEM,
    )
    for _ in range(5):
        for step_id in Step.objects.filter(
            task__in=tasks, status=StepStatus.ENQUEUED
        ).values_list("pk", flat=True):
            execute_step(step_id)
    for task, expected in zip(tasks, (1 + 1, 10 + 1), strict=True):
        task.refresh_from_db()
        assert task.status == TaskStatus.COMPLETE
        assert step_of(task, "first").results["value"] == expected


@pytest.mark.django_db
def test_one_bad_context_refuses_the_whole_batch_naming_it(synced):
    before = Task.objects.count()
    with pytest.raises(ContextValidationError) as caught:
        task_start_many(
            namespace="testing",
            workflow="strict",
            contexts=[
                {
                    "customer_email": "ada@example.com",
                    "items": [{"sku": "SKU-1", "quantity": 1}],
                },
                {"customer_email": "ada@example.com", "items": []},
                "not an object",
            ],
            actor=SYSTEM,
        )
    assert set(caught.value.fields) == {"contexts.1.items", "contexts.2"}
    assert Task.objects.count() == before
    assert not AuditEvent.objects.filter(action="task.started").exists()


@pytest.mark.django_db
def test_empty_and_oversized_batches_are_refused(synced):
    with pytest.raises(ContextValidationError) as empty:
        task_start_many(
            namespace="testing", workflow="chain", contexts=[], actor=SYSTEM
        )
    assert "contexts" in empty.value.fields
    with pytest.raises(TaskerError) as large:
        task_start_many(
            namespace="testing",
            workflow="chain",
            contexts=[{"start": 1}] * (MAX_BATCH + 1),
            actor=SYSTEM,
        )
    assert large.value.code == "batch_too_large"
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_a_user_needs_the_start_role_and_another_team_is_not_found(synced):
    testing = NamespaceFactory(slug="testing")
    viewer, stranger = UserFactory(roles={testing: ["viewer"]}), UserFactory()
    with pytest.raises(TaskerError) as refused:
        task_start_many(
            namespace="testing",
            workflow="chain",
            contexts=[{"start": 1}],
            actor=Actor.of(viewer),
        )
    assert refused.value.code == "permission_denied"
    with pytest.raises(NotFound):
        task_start_many(
            namespace="testing",
            workflow="chain",
            contexts=[{"start": 1}],
            actor=Actor.of(stranger),
        )
    assert not Task.objects.exists()
