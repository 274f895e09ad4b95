"""Approval steps, subworkflow steps and cross-namespace grants, in-process.

The executor is driven by hand (see tests/workflows/helpers.py for why); the
real-worker cross-team refund lives in tests/examples/test_worker_refunds.py.
"""

from __future__ import annotations

import pytest

from namespaces.services import grant_create
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied, TaskerError
from tests.factories import NamespaceFactory, UserFactory, start, step_of
from tests.workflows.helpers import run_ready
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Task
from workflows.services import step_approve, step_reject, step_retry, task_cancel

SYSTEM = Actor.system_actor("test")


@pytest.fixture
def teams(synced):
    return NamespaceFactory(slug="crossteam"), NamespaceFactory(slug="testing")


@pytest.fixture
def granted(teams):
    crossteam, testing = teams
    grant_create(source=crossteam, target=testing, workflow="chain", actor=SYSTEM)
    return teams


@pytest.fixture
def people(teams):
    crossteam, _ = teams
    alice = UserFactory(username="alice", roles={crossteam: ["operator"]})
    carol = UserFactory(username="carol", roles={crossteam: ["operator", "approver"]})
    return alice, carol


def _child(task: Task) -> Task:
    return Task.objects.get(parent_step__task=task)


@pytest.mark.django_db
class TestApproval:
    def test_small_amount_is_auto_approved(self, granted):
        task = run_ready(start("crossteam.parent", {"start": 1, "amount": 50}))
        review = step_of(task, "review")
        assert review.status == StepStatus.COMPLETE
        assert review.results["auto_approved"] is True

    def test_large_amount_waits_without_polling_or_retrying(self, granted):
        task = run_ready(start("crossteam.parent", {"start": 1, "amount": 500}))
        review = step_of(task, "review")
        assert review.status == StepStatus.WAITING_FOR_APPROVAL
        assert review.attempts == 1
        assert review.approval_request["details"] == {"amount": 500}
        assert review.next_attempt_at is None and review.lease_expires_at is None
        task.refresh_from_db()
        assert task.status == TaskStatus.IN_PROGRESS

    def test_initiator_cannot_approve_their_own_request(self, granted, people):
        _alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(carol)
            )
        )
        with pytest.raises(PermissionDenied, match="four-eyes") as caught:
            step_approve(
                step=step_of(task, "review"), actor=Actor.of(carol), comment="ok"
            )
        assert caught.value.code == "four_eyes"
        assert step_of(task, "review").status == StepStatus.WAITING_FOR_APPROVAL

    def test_approval_by_another_approver_moves_the_task_on(self, granted, people):
        alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(alice)
            )
        )
        step_approve(
            step=step_of(task, "review"), actor=Actor.of(carol), comment="within policy"
        )
        review = step_of(task, "review")
        assert review.status == StepStatus.COMPLETE
        assert review.decision == "approved"
        assert review.decided_by == carol
        assert review.results["approved_by"] == "carol"
        assert step_of(task, "call").status == StepStatus.ENQUEUED

    def test_rejection_fails_the_task_with_the_reason(self, granted, people):
        alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(alice)
            )
        )
        step_reject(
            step=step_of(task, "review"), actor=Actor.of(carol), comment="over budget"
        )
        review = step_of(task, "review")
        assert review.status == StepStatus.FAILED
        assert review.error["code"] == "approval_rejected"
        assert "over budget" in review.error["message"]
        task.refresh_from_db()
        assert task.status == TaskStatus.FAILED

    def test_operator_without_approver_role_is_refused(self, granted, people):
        alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(carol)
            )
        )
        with pytest.raises(PermissionDenied, match="approver"):
            step_approve(
                step=step_of(task, "review"), actor=Actor.of(alice), comment="x"
            )

    def test_comment_is_required(self, granted, people):
        alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(alice)
            )
        )
        with pytest.raises(TaskerError) as caught:
            step_reject(
                step=step_of(task, "review"), actor=Actor.of(carol), comment=" "
            )
        assert caught.value.fields == {"comment": ["This field is required."]}


@pytest.mark.django_db
class TestSubworkflow:
    def test_missing_grant_fails_the_step_permanently_naming_it(self, teams):
        task = run_ready(start("crossteam.parent", {"start": 1, "amount": 5}))
        call = step_of(task, "call")
        assert call.status == StepStatus.FAILED
        assert call.attempts == 1
        assert call.error["code"] == "missing_grant"
        assert "crossteam has no grant to start testing.chain" in call.error["message"]
        assert not Task.objects.filter(parent_step=call).exists()

    def test_child_runs_and_its_outcome_completes_the_parent_step(self, granted):
        task = _run_all(start("crossteam.parent", {"start": 1, "amount": 5}))
        call = step_of(task, "call")
        child = _child(task)
        assert child.correlation_id == task.correlation_id
        assert child.parent_step_id == call.pk
        assert child.status == TaskStatus.COMPLETE
        assert call.status == StepStatus.COMPLETE
        assert call.results["child_task_id"] == str(child.pk)
        assert call.results["child_status"] == "complete"
        assert call.results["value"] == step_of(child, "third").results["value"]
        # Only the declared outputs cross over, not the other team's results.
        assert "child_results" not in call.results
        assert call.results["missing"] is None
        task.refresh_from_db()
        assert task.status == TaskStatus.COMPLETE
        assert step_of(task, "finish").results["value"] == call.results["value"] + 1

    def test_failed_child_fails_the_parent_step_and_task(self, granted):
        task = start(
            "crossteam.parent",
            {"start": 1, "amount": 5, "child_fail": {"second": ["permanent"]}},
        )
        task = _run_all(task)
        call = step_of(task, "call")
        assert call.status == StepStatus.FAILED
        assert call.error["code"] == "subtask_failed"
        assert "second" in call.error["message"]
        assert task.status == TaskStatus.FAILED

    def test_retrying_the_parent_step_reuses_the_same_child(self, granted):
        task = start(
            "crossteam.parent",
            {"start": 1, "amount": 5, "child_fail": {"second": ["permanent"]}},
        )
        task = _run_all(task)
        child = _child(task)
        step_retry(step=step_of(task, "call"), actor=SYSTEM)
        task = _run_all(task)
        assert Task.objects.filter(parent_step__task=task).count() == 1
        # The child still failed, so the parent step fails again, naming it.
        assert step_of(task, "call").error["child_task_id"] == str(child.pk)
        # Fixing the child (retrying its step) and then the parent step completes.
        step_retry(step=step_of(child, "second"), actor=SYSTEM)
        _run_all(child)
        step_retry(step=step_of(task, "call"), actor=SYSTEM)
        task = _run_all(task)
        assert task.status == TaskStatus.COMPLETE

    def test_cancelling_the_parent_cancels_the_child(self, granted):
        task = start("crossteam.parent", {"start": 1, "amount": 5})
        for _ in range(3):  # prepare, review, call: the child is started
            for step in task.steps.filter(status=StepStatus.ENQUEUED):
                from workflows.engine.executor import execute_step

                execute_step(step.pk)
        child = _child(task)
        assert step_of(task, "call").status == StepStatus.WAITING_FOR_SUBTASK
        task_cancel(task=task, actor=SYSTEM, reason="customer withdrew")
        child.refresh_from_db()
        assert child.status == TaskStatus.CANCELLED
        assert step_of(task, "call").status == StepStatus.CANCELLED


def _run_all(task: Task) -> Task:
    """Run enqueued steps of the task and of its children until none is left."""
    from workflows.engine.executor import execute_step
    from workflows.models import Step

    for _ in range(30):
        ready = list(
            Step.objects.filter(status=StepStatus.ENQUEUED).values_list("pk", flat=True)
        )
        if not ready:
            break
        for step_id in ready:
            execute_step(step_id)
    task.refresh_from_db()
    return task


@pytest.mark.django_db
class TestReviewRegressions:
    def test_child_task_carries_the_parents_initiator(self, granted, people):
        alice, _carol = people
        task = _run_all(
            start("crossteam.parent", {"start": 1, "amount": 5}, actor=Actor.of(alice))
        )
        assert _child(task).initiator == alice

    def test_an_approval_step_cannot_be_resolved_manually(self, granted, people):
        """Resolving would let the initiator stand in for the approver."""
        from tasker_project.core.errors import IllegalTransition
        from workflows.services import step_resolve

        _alice, carol = people
        task = run_ready(
            start(
                "crossteam.parent", {"start": 1, "amount": 500}, actor=Actor.of(carol)
            )
        )
        with pytest.raises(IllegalTransition, match="approval step"):
            step_resolve(
                step=step_of(task, "review"),
                actor=Actor.of(carol),
                results={"approved": True},
            )
        assert step_of(task, "review").status == StepStatus.WAITING_FOR_APPROVAL

    def test_sweeper_settles_a_parent_whose_child_ended_unnoticed(self, granted):
        from workflows.engine.sweeper import sweep

        task = start("crossteam.parent", {"start": 1, "amount": 5})
        for _ in range(3):  # prepare, review, call: the child is started
            for step in task.steps.filter(status=StepStatus.ENQUEUED):
                from workflows.engine.executor import execute_step

                execute_step(step.pk)
        child = _child(task)
        # The child ends without the engine settling the parent (a crash).
        Task.objects.filter(pk=child.pk).update(status=TaskStatus.FAILED)
        assert step_of(task, "call").status == StepStatus.WAITING_FOR_SUBTASK
        assert sweep().subtasks_settled == 1
        call = step_of(task, "call")
        assert call.status == StepStatus.FAILED
        assert call.error["code"] == "subtask_failed"
