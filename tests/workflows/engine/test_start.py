"""Starting a task: context validation, idempotency, the rows it creates."""

from __future__ import annotations

import pytest

from tasker_project.core.errors import (
    ContextValidationError,
    DefinitionNotFound,
    IdempotencyConflict,
    NotFound,
)
from tests.factories import start
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Task


@pytest.mark.django_db
class TestStartTask:
    def test_context_violations_are_listed_by_field_path(self, synced):
        """Every violation is reported, each under its own path; nothing is created."""
        with pytest.raises(ContextValidationError) as caught:
            start(
                "testing.strict",
                {"customer_email": 42, "items": [{"sku": 7}]},
            )
        fields = caught.value.fields
        assert "context.customer_email" in fields
        assert any(path.startswith("context.items.0") for path in fields)
        assert Task.objects.count() == 0

    def test_missing_required_property_is_reported_at_its_own_path(self, synced):
        with pytest.raises(ContextValidationError) as caught:
            start("testing.strict", {})
        assert caught.value.fields["context.customer_email"] == [
            "This field is required."
        ]

    def test_unknown_workflow_names_the_thing_missing(self, synced):
        with pytest.raises(DefinitionNotFound, match="nope"):
            start("testing.nope", {})
        with pytest.raises(NotFound, match="namespace 'ghost' not found"):
            start("ghost.chain", {})

    def test_same_idempotency_key_and_payload_returns_the_same_task(self, synced):
        first = start("testing.chain", {"start": 1}, idempotency_key="k-1")
        again = start("testing.chain", {"start": 1}, idempotency_key="k-1")
        assert first.was_created is True
        assert again.was_created is False
        assert again.pk == first.pk
        assert Task.objects.count() == 1

    def test_same_key_with_another_payload_is_a_conflict(self, synced):
        start("testing.chain", {"start": 1}, idempotency_key="k-2")
        with pytest.raises(IdempotencyConflict, match="k-2"):
            start("testing.chain", {"start": 2}, idempotency_key="k-2")
        assert Task.objects.count() == 1

    def test_start_creates_steps_edges_and_enqueues_only_roots(self, synced):
        task = start("testing.diamond", {"start": 1})
        statuses = dict(task.steps.values_list("name", "status"))
        assert statuses == {
            "root": StepStatus.ENQUEUED,
            "left": StepStatus.PENDING,
            "right": StepStatus.PENDING,
            "join": StepStatus.PENDING,
        }
        assert task.edges.count() == 4
        assert task.status == TaskStatus.IN_PROGRESS
