"""Every status change is a compare-and-set the state machine allows."""

from __future__ import annotations

import pytest

from tasker_project.core.errors import IllegalTransition
from tests.factories import start, step_of
from tests.workflows.helpers import SYSTEM
from workflows.engine.states import StepStatus
from workflows.engine.transitions import step_transition


@pytest.mark.django_db
class TestStepTransition:
    def test_illegal_transition_raises_before_writing(self, synced):
        task = start("testing.chain", {"start": 1})
        first = step_of(task, "first")
        with pytest.raises(IllegalTransition, match="from enqueued to complete"):
            step_transition(
                step_id=first.pk,
                from_status=StepStatus.ENQUEUED,
                to_status=StepStatus.COMPLETE,
                actor=SYSTEM,
            )
        assert step_of(task, "first").status == StepStatus.ENQUEUED
