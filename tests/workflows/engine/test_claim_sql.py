"""The claim: of two workers claiming one step at once, only one wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import start, step_of
from tests.workflows.helpers import make_due, race
from workflows.engine.executor import claim_step
from workflows.engine.states import StepStatus
from workflows.engine.sweeper import sweep
from workflows.models import Step, StepTransition


@pytest.mark.django_db(transaction=True)
def test_two_claims_racing_only_one_wins(synced):
    task = start("testing.chain", {"start": 1})
    step_id = step_of(task, "first").pk
    for _ in range(3):
        results = race([lambda: claim_step(step_id), lambda: claim_step(step_id)])
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert step_of(task, "first").attempts == winners[0].attempts
        # Put it back to enqueued through the sweeper path for the next round.
        Step.objects.filter(pk=step_id).update(
            lease_expires_at=timezone.now() - timedelta(seconds=1), max_attempts=10
        )
        sweep()
        make_due(task)
        sweep()
    claims = StepTransition.objects.filter(
        step_id=step_id, to_status=StepStatus.IN_PROGRESS
    )
    assert claims.count() == 3
    assert sorted(claims.values_list("attempt", flat=True)) == [1, 2, 3]
