"""Cancelling a task: every unfinished step cancelled, the decision audited."""

from __future__ import annotations

import pytest

from tasker_project.core.errors import IllegalTransition
from tests.factories import start, step_of
from tests.workflows.helpers import SYSTEM
from workflows.engine.executor import execute_step
from workflows.engine.states import StepStatus, TaskStatus
from workflows.services import task_cancel


@pytest.mark.django_db
class TestTaskCancel:
    def test_cancel_cancels_every_unfinished_step_and_is_audited(self, synced):
        from audit.models import AuditEvent

        task = start("testing.diamond", {"start": 1})
        execute_step(step_of(task, "root").pk)
        task_cancel(task=task, actor=SYSTEM, reason="duplicate order")
        task.refresh_from_db()
        assert task.status == TaskStatus.CANCELLED
        assert dict(task.steps.values_list("name", "status")) == {
            "root": StepStatus.COMPLETE,
            "left": StepStatus.CANCELLED,
            "right": StepStatus.CANCELLED,
            "join": StepStatus.CANCELLED,
        }
        event = AuditEvent.objects.get(action="task.cancelled")
        assert event.object_id == str(task.pk)
        assert event.reason == "duplicate order"
        with pytest.raises(IllegalTransition, match="cancelled"):
            task_cancel(task=task, actor=SYSTEM)
