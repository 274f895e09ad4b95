"""Who, from where, in which request: the context every audit row carries.

Requests bind their correlation id (the client's ``X-Correlation-ID`` when
it is well-formed) and the client address ``TASKER_TRUSTED_PROXIES``
allows; a worker binds its task's correlation id and initiator. Business
events and django-auditlog's field diffs both read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from audit.models import AuditEvent
from audit.registry import MASK
from examples.models import Customer, GatewayRefund, PaymentRefund, SupportTicket
from namespaces.models import Namespace, NamespaceGrant
from tasker_project.core import context
from tests.conftest import wait_for
from tests.factories import NamespaceFactory, UserFactory, step_of
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Task

PASSWORD = "correct-horse-battery"  # noqa: S105 - a test user's password
CLIENT = "203.0.113.7"
PROXY = "10.0.0.2"


def _api(user: Any = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=PROXY)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _via_proxy(cid: str | None = None) -> dict[str, str]:
    """Request headers of a client behind the one trusted proxy."""
    headers = {"HTTP_X_FORWARDED_FOR": f"198.51.100.1, {CLIENT}"}
    if cid is not None:
        headers["HTTP_X_CORRELATION_ID"] = cid
    return headers


class _NewEvents:
    """The audit events written since the last call."""

    def __init__(self) -> None:
        self.seen = set(AuditEvent.objects.values_list("pk", flat=True))

    def __call__(self) -> list[AuditEvent]:
        # Not the chained events covering auditlog entries (tests/audit/test_chain.py).
        events = list(
            AuditEvent.objects.exclude(pk__in=self.seen).exclude(
                action="auditlog.entry"
            )
        )
        self.seen.update(e.pk for e in events)
        return events


@pytest.fixture
def one_proxy(settings) -> None:
    settings.TASKER_TRUSTED_PROXIES = 1


@pytest.fixture
def people(synced) -> dict[str, Any]:
    testing = Namespace.objects.get(slug="testing")
    return {
        "operator": UserFactory(username="ops", roles={testing: ["operator"]}),
        "viewer": UserFactory(username="watcher", roles={testing: ["viewer"]}),
    }


def _assert_from_request(
    events: list[AuditEvent], *, actor: str, cid: str, actions: set[str]
) -> None:
    assert {e.action for e in events} == actions
    for event in events:
        assert event.actor_label == actor, event
        assert event.correlation_id == cid, event
        assert event.remote_addr == CLIENT, event
        assert event.initiator_label == "", event


@pytest.mark.django_db
def test_every_event_of_a_request_carries_its_actor_cid_and_address(people, one_proxy):
    """Start, cancel and a refusal: each event names the request's context."""
    new = _NewEvents()
    response = _api(people["operator"]).post(
        "/api/v1/tasks/",
        {"namespace": "testing", "workflow": "chain", "context": {"start": 1}},
        format="json",
        **_via_proxy("client-cid-1"),
    )
    assert response.status_code == 201, response.content
    assert response["X-Correlation-ID"] == "client-cid-1"
    task = Task.objects.get(pk=response.json()["id"])
    assert task.correlation_id == "client-cid-1"
    _assert_from_request(
        new(), actor="ops", cid="client-cid-1", actions={"task.started"}
    )

    response = _api(people["viewer"]).post(
        f"/api/v1/tasks/{task.pk}/cancel/",
        {"reason": "not mine"},
        format="json",
        **_via_proxy("client-cid-2"),
    )
    assert response.status_code == 403, response.content
    _assert_from_request(
        new(), actor="watcher", cid="client-cid-2", actions={"permission.denied"}
    )

    response = _api(people["operator"]).post(
        f"/api/v1/tasks/{task.pk}/cancel/",
        {"reason": "done testing"},
        format="json",
        **_via_proxy("client-cid-3"),
    )
    assert response.status_code == 200, response.content
    _assert_from_request(
        new(), actor="ops", cid="client-cid-3", actions={"task.cancelled"}
    )


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["", "x" * 101, "bad\u00e9id", "tab\tid", None])
def test_a_bad_or_missing_correlation_header_gets_a_fresh_id_echoed(people, header):
    """Never an error: a fresh uuid4 hex, echoed, and the task takes it."""
    new = _NewEvents()
    extra = {} if header is None else {"HTTP_X_CORRELATION_ID": header}
    response = _api(people["operator"]).post(
        "/api/v1/tasks/",
        {"namespace": "testing", "workflow": "chain", "context": {"start": 1}},
        format="json",
        **extra,
    )
    assert response.status_code == 201, response.content
    cid = response["X-Correlation-ID"]
    assert len(cid) == 32 and int(cid, 16) >= 0
    assert cid != header
    assert Task.objects.get(pk=response.json()["id"]).correlation_id == cid
    (event,) = new()
    assert event.correlation_id == cid
    # Without a trusted proxy the peer is the client.
    assert event.remote_addr == PROXY


@pytest.mark.django_db
def test_without_trusted_proxies_a_forwarded_address_is_not_believed(people):
    new = _NewEvents()
    response = _api(people["operator"]).post(
        "/api/v1/tasks/",
        {"namespace": "testing", "workflow": "chain", "context": {"start": 1}},
        format="json",
        **_via_proxy("cid-untrusted"),
    )
    assert response.status_code == 201, response.content
    (event,) = new()
    assert event.remote_addr == PROXY


@pytest.mark.django_db
def test_a_grant_made_in_the_admin_is_logged_field_by_field_with_the_cid(
    client, synced, one_proxy
):
    """The grant's business event and its auditlog entry share the request's id."""
    admin_user = get_user_model().objects.create_superuser(
        "root", "root@example.com", PASSWORD
    )
    client.force_login(admin_user)
    source = NamespaceFactory(slug="granting_source")
    target = Namespace.objects.get(slug="testing")
    new = _NewEvents()
    response = client.post(
        "/admin/namespaces/namespacegrant/add/",
        {
            "source": source.pk,
            "target": target.pk,
            "workflow": "chain",
            "reason": "shared runs",
        },
        REMOTE_ADDR=PROXY,
        **_via_proxy("admin-grant-cid"),
    )
    assert response.status_code == 302, response.content
    assert response["X-Correlation-ID"] == "admin-grant-cid"
    _assert_from_request(
        new(), actor="root", cid="admin-grant-cid", actions={"grant.created"}
    )
    grant = NamespaceGrant.objects.get(source=source, target=target)
    entry = LogEntry.objects.get_for_object(grant).get()
    assert entry.action == LogEntry.Action.CREATE
    assert entry.cid == "admin-grant-cid"
    assert entry.actor == admin_user
    assert entry.remote_addr == CLIENT


@pytest.fixture
def bound() -> Iterator[None]:
    with context.bind(correlation_id="bound-cid"):
        yield


@pytest.mark.django_db
def test_a_role_change_and_a_user_are_logged_with_personal_fields_masked(synced, bound):
    """Joining a role group is an m2m entry; e-mail and names are hidden whole."""
    testing = Namespace.objects.get(slug="testing")
    user = UserFactory(
        username="newcomer",
        email="newcomer@example.com",
        first_name="Nora",
        roles={testing: ["operator"]},
    )
    created = LogEntry.objects.get_for_object(user).get()
    assert created.cid == "bound-cid"
    assert created.changes_dict["email"] == ["None", MASK]
    assert created.changes_dict["first_name"][1] == MASK
    assert "password" not in created.changes_dict
    assert "last_login" not in created.changes_dict
    assert "newcomer@example.com" not in created.changes
    assert "Nora" not in created.changes

    group = testing.team_roles.get(role="operator").group
    membership = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Group),
        object_pk=str(group.pk),
    ).get()
    assert membership.cid == "bound-cid"
    assert membership.changes_dict["groups"]["operation"] == "add"
    assert membership.changes_dict["groups"]["objects"] == ["newcomer"]


@pytest.mark.django_db
def test_a_customer_change_is_logged_with_the_whole_name_and_email_hidden(bound):
    customer = Customer.objects.create(
        name="Ada Lovelace", email="ada@example.com", tier="basic"
    )
    customer.email = "ada.l@example.com"
    customer.tier = "premium"
    customer.save()
    created, changed = LogEntry.objects.get_for_object(customer).order_by("pk")
    assert created.cid == changed.cid == "bound-cid"
    assert changed.changes_dict["email"] == [MASK, MASK]
    assert changed.changes_dict["tier"] == ["basic", "premium"]
    assert "name" not in changed.changes_dict  # unchanged: not in the diff
    assert created.changes_dict["name"] == ["None", MASK]
    for entry in (created, changed):
        for value in ("Ada", "Lovelace", "ada@", "ada.l@", "example.com"):
            assert value not in entry.changes
            assert value not in entry.object_repr


@pytest.mark.django_db
def test_a_failed_admin_login_is_audited_without_the_password(
    client, synced, one_proxy
):
    new = _NewEvents()
    response = client.post(
        "/admin/login/",
        {"username": "mallory", "password": "hunter2-secret"},
        REMOTE_ADDR=PROXY,
        **_via_proxy("admin-login-cid"),
    )
    assert response.status_code == 200  # the form again, with its error
    (event,) = new()
    assert event.action == "auth.login_failed"
    assert event.actor_label == "system:auth"
    assert event.actor is None
    assert event.object_id == "mallory"
    assert event.metadata["username"] == "mallory"
    assert event.correlation_id == "admin-login-cid"
    assert event.remote_addr == CLIENT
    assert "hunter2" not in repr(event.metadata) + event.reason


@pytest.mark.django_db
def test_a_failed_jwt_login_is_audited_without_the_password(synced, one_proxy):
    get_user_model().objects.create_user("alice", password=PASSWORD)
    new = _NewEvents()
    response = _api().post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "wrong-guess-42"},
        format="json",
        **_via_proxy("jwt-login-cid"),
    )
    assert response.status_code == 401, response.content
    (event,) = new()
    assert event.action == "auth.login_failed"
    assert event.actor_label == "system:auth"
    assert event.metadata["username"] == "alice"
    assert event.correlation_id == "jwt-login-cid"
    assert event.remote_addr == CLIENT
    assert "wrong-guess" not in repr(event.metadata) + event.reason
    # A successful login writes no failure.
    response = _api().post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert new() == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_events_and_diffs_from_the_worker_carry_the_tasks_cid_and_initiator(
    synced, worker, wait_task, one_proxy
):
    """alice's refund: the worker's subtask start and records name her and her id."""
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))  # noqa: SIM115
    users = {u.username: u for u in get_user_model().objects.all()}
    new = _NewEvents()
    response = _api(users["alice"]).post(
        "/api/v1/tasks/",
        {
            "namespace": "customer_success",
            "workflow": "process_refund",
            "context": {
                "ticket_id": "tkt_1001",
                "customer_id": "cus_1001",
                "refund_amount": 15000,
                "refund_reason": "customer_request",
                "agent_notes": "double charged",
            },
        },
        format="json",
        **_via_proxy("refund-cid-1"),
    )
    assert response.status_code == 201, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert task.correlation_id == "refund-cid-1"
    _assert_from_request(
        new(), actor="alice", cid="refund-cid-1", actions={"task.started"}
    )
    wait_for(
        lambda: (
            step_of(task, "get_manager_approval").status
            == StepStatus.WAITING_FOR_APPROVAL
        ),
        what="the approval step to wait",
    )
    approval = step_of(task, "get_manager_approval")
    response = _api(users["carol"]).post(
        f"/api/v1/tasks/{task.pk}/steps/{approval.pk}/approve/",
        {"comment": "double charge confirmed"},
        format="json",
        **_via_proxy("approve-cid"),
    )
    assert response.status_code == 200, response.content
    approved = [e for e in new() if e.action == "step.approved"]
    _assert_from_request(
        approved, actor="carol", cid="approve-cid", actions={"step.approved"}
    )
    wait_task(task, TaskStatus.COMPLETE, timeout=90)

    child = Task.objects.get(parent_step__task=task)
    (started,) = AuditEvent.objects.filter(
        action="task.started", object_id=str(child.pk)
    )
    assert started.actor_label == "system:subworkflow"
    assert started.correlation_id == "refund-cid-1"
    assert started.initiator_label == "alice"
    assert started.remote_addr is None

    # The worker's writes to the records: diffs with the task's correlation id.
    refund = GatewayRefund.objects.get(task_id=str(child.pk))
    entry = PaymentRefund.objects.get(refund_id=refund.refund_id)
    for obj in (refund, entry):
        (log,) = LogEntry.objects.get_for_object(obj)
        assert log.cid == "refund-cid-1"
        assert log.remote_addr is None
    ticket = SupportTicket.objects.get(ticket_id="tkt_1001")
    resolved = LogEntry.objects.get_for_object(ticket).filter(
        action=LogEntry.Action.UPDATE
    )
    (log,) = resolved
    assert log.cid == "refund-cid-1"
    assert log.changes_dict["status"] == ["open", "resolved"]
    assert log.changes_dict["resolution_note"][1] == MASK
