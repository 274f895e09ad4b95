"""Separation of duties: no hand-made change carries a task past an open approval.

``crossteam.parent`` is prepare → review (approval above 100) → call
(subworkflow) → finish. With ``review`` waiting, resolving or retrying
``call`` or ``finish`` by hand is refused — through the service, the API,
the admin and the CLI alike, for the initiator, another operator and a
superuser — with a 403, an audit record, and nothing changed. And a
maintainer cannot grant themselves the roles that check others' work.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from audit.models import AuditEvent
from namespaces.permissions import user_roles
from namespaces.services import grant_create, membership_grant
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied
from tests.factories import NamespaceFactory, UserFactory, start, step_of
from tests.workflows.helpers import run_ready
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, StepTransition, Task
from workflows.services import step_approve, step_reject, step_resolve, step_retry

SYSTEM = Actor.system_actor("test")
pytestmark = pytest.mark.django_db


@pytest.fixture
def people(synced):
    """alice starts tasks (operator); carol is operator and approver; root is root."""
    crossteam = NamespaceFactory(slug="crossteam")
    testing = NamespaceFactory(slug="testing")
    grant_create(source=crossteam, target=testing, workflow="chain", actor=SYSTEM)
    alice = UserFactory(
        username="alice", is_staff=True, roles={crossteam: ["operator"]}
    )
    carol = UserFactory(
        username="carol", is_staff=True, roles={crossteam: ["operator", "approver"]}
    )
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    return {"alice": alice, "carol": carol, "root": root}


@pytest.fixture
def waiting(people) -> Task:
    """A task of alice's whose approval step waits for a decision."""
    task = run_ready(
        start(
            "crossteam.parent",
            {"start": 1, "amount": 500},
            actor=Actor.of(people["alice"]),
        )
    )
    assert step_of(task, "review").status == StepStatus.WAITING_FOR_APPROVAL
    assert step_of(task, "call").status == StepStatus.PENDING
    return task


def _snapshot(task: Task) -> tuple:
    """Return what a refused change must leave untouched."""
    task.refresh_from_db()
    return (
        task.status,
        sorted(task.steps.values_list("name", "status", "results")),
        StepTransition.objects.filter(step__task=task).count(),
        Task.objects.count(),
    )


def _denials(task: Task) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action="permission.denied", metadata__task=str(task.pk)
        ).order_by("pk")
    )


class TestTheService:
    @pytest.mark.parametrize("who", ["alice", "carol", "root"])
    @pytest.mark.parametrize("step_name", ["call", "finish"])
    def test_resolving_behind_a_waiting_approval_is_refused_and_audited(
        self, people, waiting, who, step_name
    ):
        """Directly below the approval (call) or two steps below it (finish)."""
        before = _snapshot(waiting)
        with pytest.raises(PermissionDenied) as refused:
            step_resolve(
                step=step_of(waiting, step_name),
                actor=Actor.of(people[who]),
                results={"refund_id": "invented"},
            )
        assert refused.value.code == "approval_pending"
        assert refused.value.http_status == 403
        assert "'review' (waiting_for_approval)" in refused.value.message
        assert _snapshot(waiting) == before
        (denial,) = _denials(waiting)
        assert denial.actor_label == who
        assert denial.metadata["action"] == "resolve"
        assert denial.metadata["step"] == step_name
        assert denial.metadata["approvals"] == [
            {"step": "review", "status": StepStatus.WAITING_FOR_APPROVAL}
        ]

    def test_the_cli_system_actor_is_held_to_the_rule_too(self, waiting):
        before = _snapshot(waiting)
        with pytest.raises(PermissionDenied, match="separation of duties"):
            step_resolve(
                step=step_of(waiting, "call"),
                actor=Actor.system_actor("cli"),
                results={},
            )
        assert _snapshot(waiting) == before

    def test_resolving_behind_a_rejected_approval_is_refused(self, people, waiting):
        """A rejection fails the task; resolving below it would overturn it."""
        step_reject(
            step=step_of(waiting, "review"),
            actor=Actor.of(people["carol"]),
            comment="not this one",
        )
        waiting.refresh_from_db()
        assert waiting.status == TaskStatus.FAILED
        with pytest.raises(PermissionDenied) as refused:
            step_resolve(
                step=step_of(waiting, "call"),
                actor=Actor.of(people["alice"]),
                results={},
            )
        assert "'review' (failed)" in refused.value.message
        assert step_of(waiting, "call").status == StepStatus.PENDING
        waiting.refresh_from_db()
        assert waiting.status == TaskStatus.FAILED

    def test_retrying_a_failed_step_behind_an_open_approval_is_refused(
        self, people, waiting
    ):
        """A step left failed below an undecided approval (say, from before this
        rule, when resolving could bypass it) cannot be retried past it either."""
        Step.objects.filter(task=waiting, name="call").update(status=StepStatus.FAILED)
        with pytest.raises(PermissionDenied) as refused:
            step_retry(step=step_of(waiting, "call"), actor=Actor.of(people["alice"]))
        assert refused.value.code == "approval_pending"
        assert step_of(waiting, "call").status == StepStatus.FAILED
        assert _denials(waiting)[-1].metadata["action"] == "retry"

    def test_after_the_approval_the_same_resolve_is_allowed(self, people, waiting):
        """The rule is about the decision, not the person: once approved, an
        operator may resolve a step below it by hand."""
        step_approve(
            step=step_of(waiting, "review"),
            actor=Actor.of(people["carol"]),
            comment="fine",
        )
        resolved = step_resolve(
            step=step_of(waiting, "finish"),
            actor=Actor.of(people["alice"]),
            results={"child_task_id": "done by phone"},
        )
        assert resolved.status == StepStatus.RESOLVED_MANUALLY
        assert not _denials(waiting)

    def test_steps_above_the_approval_are_not_gated(self, people, synced):
        """prepare has no approval above it: a failed prepare can be retried."""
        task = start(
            "crossteam.parent",
            {"start": 1, "amount": 500, "fail": {"prepare": ["permanent"]}},
            actor=Actor.of(people["alice"]),
        )
        run_ready(task)
        assert step_of(task, "prepare").status == StepStatus.FAILED
        retried = step_retry(
            step=step_of(task, "prepare"), actor=Actor.of(people["alice"])
        )
        assert retried.status == StepStatus.ENQUEUED


class TestTheEdges:
    def test_the_api_answers_403_with_the_code(self, people, waiting):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(people['alice'])}"
        )
        call = step_of(waiting, "call")
        before = _snapshot(waiting)
        response = client.post(
            f"/api/v1/tasks/{waiting.pk}/steps/{call.pk}/resolve/",
            {"results": {"refund_id": "invented"}, "reason": "customer called"},
            format="json",
        )
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "approval_pending"
        assert _snapshot(waiting) == before
        assert len(_denials(waiting)) == 1

    def test_the_admin_refuses_with_a_message_and_changes_nothing(
        self, people, waiting
    ):
        client = Client()
        client.force_login(people["root"])
        call = step_of(waiting, "call")
        before = _snapshot(waiting)
        response = client.post(
            reverse("admin:workflows_step_resolve", args=[call.pk]),
            {"results": '{"refund_id": "invented"}', "reason": "customer called"},
            follow=True,
        )
        assert response.status_code == 200
        assert "separation of duties" in response.content.decode()
        assert _snapshot(waiting) == before
        assert _denials(waiting)[-1].actor_label == "root"

    def test_the_cli_exits_2_naming_the_approval(self, waiting):
        before = _snapshot(waiting)
        with pytest.raises(CommandError) as refused:
            call_command(
                "step",
                "resolve",
                str(waiting.pk),
                "call",
                "--results",
                '{"refund_id": "invented"}',
                stdout=io.StringIO(),
            )
        assert refused.value.returncode == 2
        assert "'review' (waiting_for_approval)" in str(refused.value)
        assert _snapshot(waiting) == before
        assert _denials(waiting)[-1].actor_label == "system:cli"

    def test_the_cli_resolves_once_approved(self, people, waiting):
        step_approve(
            step=step_of(waiting, "review"),
            actor=Actor.of(people["carol"]),
            comment="fine",
        )
        out = io.StringIO()
        call_command(
            "step",
            "resolve",
            str(waiting.pk),
            "finish",
            "--results",
            "{}",
            "--as",
            "alice",
            stdout=out,
        )
        assert "resolved_manually" in out.getvalue()
        finish = step_of(waiting, "finish")
        assert finish.status == StepStatus.RESOLVED_MANUALLY
        assert finish.transitions.latest("pk").actor_label == "alice"


class TestSelfGrants:
    @pytest.fixture
    def maintainers(self, synced):
        payments = NamespaceFactory(slug="payments")
        pam, max_ = (
            UserFactory(username=name, is_staff=True, roles={payments: ["maintainer"]})
            for name in ("pam", "max")
        )
        return payments, pam, max_

    @pytest.mark.parametrize("role", ["approver", "pii_viewer"])
    def test_a_maintainer_cannot_grant_themselves_a_guarded_role(
        self, maintainers, role
    ):
        payments, pam, _ = maintainers
        with pytest.raises(PermissionDenied) as refused:
            membership_grant(
                namespace=payments, user=pam, role=role, actor=Actor.of(pam)
            )
        assert refused.value.code == "self_grant"
        assert role not in user_roles(pam, payments)
        denial = AuditEvent.objects.filter(action="permission.denied").latest("pk")
        assert denial.actor_label == "pam"
        assert denial.metadata == {"action": "membership.grant", "role": role}

    def test_another_maintainer_grants_it_audited_with_both_names(self, maintainers):
        payments, pam, max_ = maintainers
        membership_grant(
            namespace=payments, user=pam, role="approver", actor=Actor.of(max_)
        )
        assert "approver" in user_roles(pam, payments)
        event = AuditEvent.objects.filter(action="membership.granted").latest("pk")
        assert event.actor_label == "max"
        assert event.metadata == {
            "role": "approver",
            "granted_by": "max",
            "granted_to": "pam",
        }

    def test_a_superuser_grants_themselves_nothing_they_lack_but_others_anything(
        self, maintainers
    ):
        payments, pam, _ = maintainers
        root = UserFactory(username="root", is_superuser=True, is_staff=True)
        membership_grant(
            namespace=payments, user=pam, role="pii_viewer", actor=Actor.of(root)
        )
        assert "pii_viewer" in user_roles(pam, payments)

    def test_a_maintainer_may_still_grant_themselves_a_plain_role(self, maintainers):
        payments, pam, _ = maintainers
        membership_grant(
            namespace=payments, user=pam, role="viewer", actor=Actor.of(pam)
        )
        assert "viewer" in user_roles(pam, payments)

    def test_the_admin_membership_page_refuses_a_self_grant(self, maintainers):
        payments, pam, _ = maintainers
        client = Client()
        client.force_login(pam)
        response = client.post(
            reverse("admin:namespaces_namespace_members", args=[payments.pk]),
            {"username": "pam", "role": "approver"},
            follow=True,
        )
        assert response.status_code == 200
        assert "separation of duties" in response.content.decode()
        assert "approver" not in user_roles(pam, payments)


def test_the_cli_refuses_unstorable_results_with_exit_code_2(people, waiting):
    """NaN parses as JSON but no JSON column stores it: exit 2, nothing written."""
    step_approve(
        step=step_of(waiting, "review"),
        actor=Actor.of(people["carol"]),
        comment="fine",
    )
    before = _snapshot(waiting)
    with pytest.raises(CommandError) as refused:
        call_command(
            "step",
            "resolve",
            str(waiting.pk),
            "finish",
            "--results",
            '{"x": NaN}',
            stdout=io.StringIO(),
        )
    assert refused.value.returncode == 2
    assert "results.x" in str(refused.value)
    assert _snapshot(waiting) == before
