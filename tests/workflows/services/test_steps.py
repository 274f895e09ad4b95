"""Manual step actions: retry a failed step, resolve a step by hand."""

from __future__ import annotations

import pytest

from tasker_project.core.errors import IllegalTransition
from tests.factories import start, step_of
from tests.workflows.helpers import SYSTEM, run_ready
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import StepTransition
from workflows.services import step_resolve, step_retry


@pytest.mark.django_db
class TestStepRetry:
    def test_manual_retry_of_failed_step_resumes_failed_task(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
        run_ready(task)
        step_retry(step=step_of(task, "first"), actor=SYSTEM, reason="gateway fixed")
        task.refresh_from_db()
        assert task.status == TaskStatus.IN_PROGRESS
        first = step_of(task, "first")
        assert first.status == StepStatus.ENQUEUED
        assert first.max_attempts == 1 + 3
        task = run_ready(task)
        assert task.status == TaskStatus.COMPLETE
        assert step_of(task, "first").attempts == 2

    def test_retrying_a_complete_step_is_illegal_and_changes_nothing(self, synced):
        task = run_ready(start("testing.chain", {"start": 1}))
        before = StepTransition.objects.count()
        with pytest.raises(IllegalTransition, match="only a failed step"):
            step_retry(step=step_of(task, "first"), actor=SYSTEM)
        assert StepTransition.objects.count() == before
        assert step_of(task, "first").status == StepStatus.COMPLETE


@pytest.mark.django_db
class TestStepResolve:
    def test_resolve_pending_step_with_results(self, synced):
        task = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
        run_ready(task)
        step_resolve(step=step_of(task, "first"), actor=SYSTEM, results={"value": 40})
        task = run_ready(task)
        assert step_of(task, "first").status == StepStatus.RESOLVED_MANUALLY
        assert step_of(task, "second").results["value"] == 50
        assert task.status == TaskStatus.COMPLETE

    def test_resolve_refuses_non_object_results(self, synced):
        task = start("testing.chain", {"start": 1})
        with pytest.raises(Exception, match="JSON object"):
            step_resolve(step=step_of(task, "second"), actor=SYSTEM, results=[1])
