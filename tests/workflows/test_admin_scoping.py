"""The admin as staff who are not superusers: team roles decide what they see and do.

Two teams: ``testing`` (alice operator, carol operator and approver, dave
approver, victor viewer, pam maintainer) and ``crossteam`` (mallory
operator). Steps are driven in-process with ``execute_step``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.contrib.messages import get_messages
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from audit.trail import audit_record
from namespaces.models import Namespace, NamespaceGrant
from namespaces.permissions import user_roles
from namespaces.services import grant_create, membership_grant, team_roles_ensure
from tasker_project.core.actors import Actor
from tests.factories import UserFactory, start, step_of
from tests.workflows.helpers import run_ready
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, Task, WorkflowDefinition

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system_actor("test")
ROLES = {
    "alice": [("testing", "operator")],
    "carol": [("testing", "operator"), ("testing", "approver")],
    "dave": [("testing", "approver")],
    "victor": [("testing", "viewer")],
    "pam": [("testing", "maintainer")],
    "mallory": [("crossteam", "operator")],
}


def admin_url(model: type[Model] | Model, view: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def messages_of(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def body(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def people(synced) -> dict[str, AbstractUser]:
    """Staff users (not superusers) holding the roles of ROLES."""
    users = {}
    for slug in ("testing", "crossteam"):
        team_roles_ensure(namespace=Namespace.objects.get(slug=slug))
    for username, roles in ROLES.items():
        user = UserFactory(username=username, is_staff=True)
        for slug, role in roles:
            membership_grant(
                namespace=Namespace.objects.get(slug=slug),
                user=user,
                role=role,
                actor=SYSTEM,
            )
        users[username] = user
    return users


@pytest.fixture
def login(people, client) -> Any:
    """Return ``login(username)``: a client logged in as that user."""

    def as_user(username: str) -> Client:
        client.force_login(people[username])
        return client

    return as_user


@pytest.fixture
def tasks(people) -> dict[str, Task]:
    """One failed testing.chain task, and one task of the other team."""
    mine = start("testing.chain", {"start": 1, "fail": {"first": ["permanent"]}})
    run_ready(mine)
    other = start("crossteam.parent", {"start": 1, "amount": 5})
    run_ready(other)
    return {"mine": mine, "other": other}


def waiting_approval(initiator: AbstractUser) -> Task:
    """Return a testing.approval task started by ``initiator``, waiting at decide."""
    task = run_ready(start("testing.approval", {"start": 1}, actor=Actor.of(initiator)))
    assert step_of(task, "decide").status == StepStatus.WAITING_FOR_APPROVAL
    return task


class TestVisibility:
    def test_an_operator_sees_their_teams_tasks_and_not_another_teams(
        self, login, tasks
    ):
        response = login("alice").get(admin_url(Task, "changelist"))
        assert response.status_code == 200
        listed = set(response.context["cl"].result_list)
        assert tasks["mine"] in listed
        assert tasks["other"] not in listed
        assert str(tasks["other"].pk)[:13] not in body(response)

    def test_steps_definitions_and_history_are_scoped_the_same_way(self, login, tasks):
        client = login("alice")
        steps = client.get(admin_url(Step, "changelist")).context["cl"].result_list
        assert {s.task_id for s in steps} == {tasks["mine"].pk}
        definitions = (
            client.get(admin_url(WorkflowDefinition, "changelist"))
            .context["cl"]
            .result_list
        )
        assert {d.namespace.slug for d in definitions} == {"testing"}
        namespaces = client.get(admin_url(Namespace, "changelist"))
        assert [n.slug for n in namespaces.context["cl"].result_list] == ["testing"]

    def test_the_namespace_filter_offers_only_visible_namespaces(self, login, tasks):
        response = login("alice").get(admin_url(Task, "changelist"))
        assert "crossteam" not in body(response)

    def test_audit_events_of_another_team_are_not_listed(self, login, tasks):
        audit_record(
            actor=Actor.system_actor("x"),
            action="test.other",
            namespace=Namespace.objects.get(slug="crossteam"),
            object_type="task",
            object_id=str(tasks["other"].pk),
        )
        response = login("alice").get(admin_url(AuditEvent, "changelist"))
        events = list(response.context["cl"].result_list)
        assert events
        assert {e.namespace.slug for e in events} == {"testing"}

    @pytest.mark.parametrize("kind", ["task", "step", "definition", "audit"])
    def test_a_crafted_url_to_another_teams_object_does_not_show_it(
        self, login, tasks, kind
    ):
        other = tasks["other"]
        obj = {
            "task": other,
            "step": step_of(other, "prepare"),
            "definition": other.definition,
            "audit": AuditEvent.objects.filter(namespace=other.namespace).first(),
        }[kind]
        assert obj is not None
        response = login("alice").get(admin_url(obj, "change", obj.pk), follow=True)
        assert response.status_code in (200, 404)
        assert response.redirect_chain  # sent away, as for a missing object
        assert "doesn’t exist" in " ".join(m for _, m in messages_of(response))
        assert "crossteam" not in body(response)

    def test_custom_views_of_another_teams_objects_answer_404(self, login, tasks):
        other = tasks["other"]
        client = login("alice")
        step = step_of(other, "prepare")
        assert client.post(admin_url(Task, "cancel", other.pk)).status_code == 404
        assert client.post(admin_url(Step, "retry", step.pk)).status_code == 404
        assert client.get(admin_url(Step, "resolve", step.pk)).status_code == 404
        assert client.get(admin_url(Step, "approve", step.pk)).status_code == 404
        start_url = admin_url(other.definition, "start", other.definition.pk)
        assert client.get(start_url).status_code == 404
        other.refresh_from_db()
        assert other.status != TaskStatus.CANCELLED

    def test_staff_see_the_workflow_app_but_not_django_auth(self, login, tasks):
        response = login("alice").get(reverse("admin:index"))
        apps = {app["app_label"] for app in response.context["app_list"]}
        assert "workflows" in apps
        assert "audit" in apps
        assert "auth" not in apps

    def test_staff_without_any_role_see_no_tasker_app(self, client, tasks):
        nobody = UserFactory(username="nobody", is_staff=True)
        client.force_login(nobody)
        response = client.get(reverse("admin:index"))
        assert response.context["app_list"] == []
        assert client.get(admin_url(Task, "changelist")).status_code == 403


class TestViewer:
    def test_a_viewer_sees_no_action_buttons(self, login, tasks):
        client = login("victor")
        task = tasks["mine"]
        step = step_of(task, "first")
        task_page = body(client.get(admin_url(Task, "change", task.pk)))
        assert admin_url(Task, "cancel", task.pk) not in task_page
        step_page = body(client.get(admin_url(Step, "change", step.pk)))
        assert admin_url(Step, "retry", step.pk) not in step_page
        assert admin_url(Step, "resolve", step.pk) not in step_page
        definition = task.definition
        definition_page = body(
            client.get(admin_url(definition, "change", definition.pk))
        )
        assert admin_url(definition, "start", definition.pk) not in definition_page
        listing = client.get(admin_url(Task, "changelist"))
        assert "cancel_selected" not in body(listing)

    def test_a_viewers_cancel_is_refused_with_a_message_and_audited(self, login, tasks):
        task = tasks["mine"]
        response = login("victor").post(admin_url(Task, "cancel", task.pk))
        assert response.status_code == 302
        [(level, message)] = messages_of(response)
        assert level == "error"
        assert "victor may not cancel tasks in namespace testing" in message
        task.refresh_from_db()
        assert task.status == TaskStatus.FAILED
        assert AuditEvent.objects.filter(
            action="permission.denied", actor_label="victor"
        ).exists()

    def test_a_viewers_retry_is_refused_and_audited(self, login, tasks):
        step = step_of(tasks["mine"], "first")
        response = login("victor").post(admin_url(Step, "retry", step.pk))
        assert response.status_code == 302
        assert messages_of(response)[0][0] == "error"
        assert step_of(tasks["mine"], "first").status == StepStatus.FAILED
        assert AuditEvent.objects.filter(
            action="permission.denied", actor_label="victor"
        ).exists()

    def test_a_viewer_cannot_open_the_start_form(self, login, tasks):
        definition = tasks["mine"].definition
        url = admin_url(definition, "start", definition.pk)
        response = login("victor").get(url)
        assert response.status_code == 302
        assert "needs role operator" in messages_of(response)[0][1]
        posted = login("victor").post(url, {"context-start": "1"})
        assert posted.status_code == 302
        assert Task.objects.filter(definition=definition).count() == 1
        assert AuditEvent.objects.filter(
            action="permission.denied", actor_label="victor"
        ).exists()


class TestOperator:
    def test_an_operator_sees_cancel_retry_and_resolve(self, login, tasks):
        client = login("alice")
        task = tasks["mine"]
        step = step_of(task, "first")
        assert admin_url(Task, "cancel", task.pk) in body(
            client.get(admin_url(Task, "change", task.pk))
        )
        step_page = body(client.get(admin_url(Step, "change", step.pk)))
        assert admin_url(Step, "retry", step.pk) in step_page
        assert admin_url(Step, "resolve", step.pk) in step_page

    def test_an_operator_starts_a_task_from_the_schema_form(self, login, people):
        definition = WorkflowDefinition.objects.get(
            namespace__slug="testing", name="approval"
        )
        url = admin_url(definition, "start", definition.pk)
        client = login("alice")
        form_page = client.get(url)
        assert form_page.status_code == 200
        assert form_page.context["form"]["start"].value() == 1
        response = client.post(
            url, {"context-start": "7", "context-note": "", "reason": "demo"}
        )
        task = Task.objects.get(definition=definition)
        assert response.url == admin_url(Task, "change", task.pk)
        assert task.context == {"start": 7}
        assert task.initiator == people["alice"]

    def test_a_schema_violation_is_shown_on_its_field_and_nothing_is_created(
        self, login, people
    ):
        definition = WorkflowDefinition.objects.get(
            namespace__slug="testing", name="approval"
        )
        response = login("alice").post(
            admin_url(definition, "start", definition.pk), {"context-start": "-1"}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["start"]
        assert not Task.objects.exists()


class TestApproval:
    def test_the_step_page_shows_the_request_and_the_decision_buttons(
        self, login, people
    ):
        task = waiting_approval(people["alice"])
        step = step_of(task, "decide")
        page = body(login("carol").get(admin_url(Step, "change", step.pk)))
        assert "check the sum before finishing" in page
        assert "testing.approval@1.0.0" in page  # a row of the details table
        assert admin_url(Step, "approve", step.pk) in page
        assert admin_url(Step, "reject", step.pk) in page

    def test_an_approver_approves_with_a_comment_and_the_task_moves_on(
        self, login, people
    ):
        task = waiting_approval(people["alice"])
        step = step_of(task, "decide")
        client = login("carol")
        assert client.get(admin_url(Step, "approve", step.pk)).status_code == 200
        response = client.post(
            admin_url(Step, "approve", step.pk), {"comment": "sum checked"}
        )
        assert response.url == admin_url(Step, "change", step.pk)
        assert messages_of(response)[0][0] == "success"
        step.refresh_from_db()
        assert step.status == StepStatus.COMPLETE
        assert step.decision == "approved"
        assert step.decided_by == people["carol"]
        assert step_of(task, "finish").status == StepStatus.ENQUEUED
        page = body(client.get(admin_url(Step, "change", step.pk)))
        assert "sum checked" in page and "Approved" in page
        assert admin_url(Step, "approve", step.pk) not in page

    def test_a_comment_is_required(self, login, people):
        step = step_of(waiting_approval(people["alice"]), "decide")
        response = login("dave").post(
            admin_url(Step, "reject", step.pk), {"comment": "  "}
        )
        assert response.status_code == 200
        assert response.context["form"].errors["comment"]
        assert step_of(step.task, "decide").status == StepStatus.WAITING_FOR_APPROVAL

    def test_rejection_fails_the_task_with_the_reason(self, login, people):
        task = waiting_approval(people["alice"])
        step = step_of(task, "decide")
        login("dave").post(admin_url(Step, "reject", step.pk), {"comment": "too much"})
        step.refresh_from_db()
        assert step.status == StepStatus.FAILED
        assert "too much" in step.error["message"]
        task.refresh_from_db()
        assert task.status == TaskStatus.FAILED

    def test_the_initiator_is_refused_by_the_four_eyes_rule(self, login, people):
        task = waiting_approval(people["carol"])
        step = step_of(task, "decide")
        client = login("carol")
        page = body(client.get(admin_url(Step, "change", step.pk)))
        assert admin_url(Step, "approve", step.pk) not in page
        assert "four-eyes" in page
        response = client.post(admin_url(Step, "approve", step.pk), {"comment": "ok"})
        assert response.status_code == 302
        [(level, message)] = messages_of(response)
        assert level == "error"
        assert "four-eyes" in message
        assert step_of(task, "decide").status == StepStatus.WAITING_FOR_APPROVAL

    def test_an_operator_without_the_approver_role_is_refused(self, login, people):
        step = step_of(waiting_approval(people["carol"]), "decide")
        client = login("alice")
        assert admin_url(Step, "approve", step.pk) not in body(
            client.get(admin_url(Step, "change", step.pk))
        )
        response = client.post(admin_url(Step, "approve", step.pk), {"comment": "x"})
        assert "needs role approver" in messages_of(response)[0][1]
        assert step_of(step.task, "decide").status == StepStatus.WAITING_FOR_APPROVAL

    def test_waiting_for_my_approval_lists_what_the_user_may_decide(
        self, login, people
    ):
        mine = step_of(waiting_approval(people["carol"]), "decide")
        theirs = step_of(waiting_approval(people["alice"]), "decide")
        client = login("carol")
        listing = client.get(admin_url(Task, "changelist"))
        assert "Waiting for my approval (1)" in body(listing)
        steps = client.get(admin_url(Step, "changelist"), {"approval": "mine"})
        assert list(steps.context["cl"].result_list) == [theirs]
        assert mine not in steps.context["cl"].result_list

    def test_users_who_approve_nowhere_get_no_approvals_link(self, login, tasks):
        listing = login("alice").get(admin_url(Task, "changelist"))
        assert "Waiting for my approval" not in body(listing)


class TestSubtaskLinks:
    @pytest.fixture
    def parent(self, people) -> Task:
        crossteam = Namespace.objects.get(slug="crossteam")
        testing = Namespace.objects.get(slug="testing")
        grant_create(source=crossteam, target=testing, workflow="chain", actor=SYSTEM)
        task = run_ready(start("crossteam.parent", {"start": 1, "amount": 5}))
        assert step_of(task, "call").status == StepStatus.WAITING_FOR_SUBTASK
        return task

    def test_the_waiting_step_lists_its_child_task(self, client, parent):
        child = Task.objects.get(parent_step__task=parent)
        client.force_login(
            UserFactory(username="root", is_superuser=True, is_staff=True)
        )
        page = body(client.get(admin_url(Step, "change", step_of(parent, "call").pk)))
        assert admin_url(Task, "change", child.pk) in page

    def test_a_child_in_another_team_is_named_but_not_linked(self, login, parent):
        child = Task.objects.get(parent_step__task=parent)
        step = step_of(parent, "call")
        page = body(login("mallory").get(admin_url(Step, "change", step.pk)))
        assert "Child tasks" in page
        assert "not visible to you" in page
        assert admin_url(Task, "change", child.pk) not in page

    def test_the_child_task_page_names_its_parent(self, login, parent):
        child = Task.objects.get(parent_step__task=parent)
        page = body(login("alice").get(admin_url(Task, "change", child.pk)))
        assert "Child task started by step call" in page
        assert "not visible to you" in page
        assert admin_url(Task, "change", parent.pk) not in page


class TestMembership:
    def members_url(self) -> str:
        return admin_url(Namespace, "members", Namespace.objects.get(slug="testing").pk)

    def test_a_maintainer_sees_the_team_and_the_add_form(self, login, people):
        testing = Namespace.objects.get(slug="testing")
        page = body(login("pam").get(admin_url(testing, "change", testing.pk)))
        assert "Team members" in page
        assert 'id="add_member_form"' in page
        assert "carol" in page

    def test_a_maintainer_adds_and_removes_a_member(self, login, people):
        testing = Namespace.objects.get(slug="testing")
        newcomer = UserFactory(username="newcomer", is_staff=True)
        client = login("pam")
        added = client.post(
            self.members_url(),
            {"op": "add", "username": "newcomer", "role": "viewer"},
        )
        assert added.url == admin_url(testing, "change", testing.pk)
        assert messages_of(added)[0][0] == "success"
        assert user_roles(newcomer, testing) == {"viewer"}
        removed = client.post(
            self.members_url(),
            {"op": "remove", "user": newcomer.pk, "role": "viewer"},
        )
        assert messages_of(removed)[0][0] == "success"
        assert user_roles(newcomer, testing) == set()
        assert (
            AuditEvent.objects.filter(
                action__in=("membership.granted", "membership.revoked"),
                actor_label="pam",
            ).count()
            == 2
        )

    def test_adding_an_unknown_user_is_a_message_not_an_error(self, login, people):
        response = login("pam").post(
            self.members_url(), {"op": "add", "username": "ghost", "role": "viewer"}
        )
        assert response.status_code == 302
        assert "No active user 'ghost'" in messages_of(response)[0][1]

    def test_a_non_maintainer_sees_the_team_read_only_and_cannot_change_it(
        self, login, people
    ):
        testing = Namespace.objects.get(slug="testing")
        client = login("alice")
        page = body(client.get(admin_url(testing, "change", testing.pk)))
        assert "Team members" in page
        assert 'id="add_member_form"' not in page
        response = client.post(
            self.members_url(), {"op": "add", "username": "alice", "role": "approver"}
        )
        assert messages_of(response)[0][0] == "error"
        assert user_roles(people["alice"], testing) == {"operator"}
        assert AuditEvent.objects.filter(
            action="permission.denied", actor_label="alice"
        ).exists()

    def test_only_superusers_add_namespaces(self, login, people):
        assert login("pam").get(admin_url(Namespace, "add")).status_code == 403

    def test_a_namespace_added_in_the_admin_gets_its_role_groups(self, admin_client):
        response = admin_client.post(
            admin_url(Namespace, "add"),
            {"slug": "billing", "name": "Billing", "description": ""},
        )
        assert response.status_code == 302
        billing = Namespace.objects.get(slug="billing")
        assert billing.team_roles.count() == 5
        assert AuditEvent.objects.filter(
            action="namespace.created", object_id="billing"
        ).exists()


class TestGrants:
    def test_a_target_maintainer_creates_and_revokes_a_grant(self, login, people):
        testing = Namespace.objects.get(slug="testing")
        crossteam = Namespace.objects.get(slug="crossteam")
        client = login("pam")
        response = client.post(
            admin_url(NamespaceGrant, "add"),
            {
                "source": crossteam.pk,
                "target": testing.pk,
                "workflow": "chain",
                "reason": "demo",
            },
        )
        assert response.status_code == 302, response.context["adminform"].errors
        grant = NamespaceGrant.objects.get()
        assert grant.created_by == people["pam"]
        assert AuditEvent.objects.filter(action="grant.created").exists()
        client.post(admin_url(grant, "delete", grant.pk), {"post": "yes"})
        assert not NamespaceGrant.objects.exists()
        assert AuditEvent.objects.filter(action="grant.revoked").exists()

    def test_the_add_form_offers_only_namespaces_the_user_maintains(
        self, login, people
    ):
        response = login("pam").get(admin_url(NamespaceGrant, "add"))
        target = response.context["adminform"].form.fields["target"]
        assert [n.slug for n in target.queryset] == ["testing"]

    def test_a_non_maintainer_cannot_add_or_delete_grants(self, login, people):
        grant = grant_create(
            source=Namespace.objects.get(slug="crossteam"),
            target=Namespace.objects.get(slug="testing"),
            workflow="chain",
            actor=SYSTEM,
        )
        client = login("mallory")  # a member of the source team
        listing = client.get(admin_url(NamespaceGrant, "changelist"))
        assert list(listing.context["cl"].result_list) == [grant]
        assert client.get(admin_url(NamespaceGrant, "add")).status_code == 403
        deleted = client.post(admin_url(grant, "delete", grant.pk), {"post": "yes"})
        assert deleted.status_code == 403
        assert NamespaceGrant.objects.filter(pk=grant.pk).exists()
