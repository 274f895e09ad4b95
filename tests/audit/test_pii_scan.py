"""No output reaches a user without pii_viewer with a customer's e-mail or name.

One refund runs end to end with a real Celery worker: customer success
asks for it, a manager approves, the payments child task refunds and its
mailer refuses the customer's address (a hard bounce), and a payments
operator resolves the failed e-mail step by hand with results and a reason
that name the customer. Then every page, API body and command output that
the demo team members can reach is scanned for the customer's address and
name: the API, the admin (tasks, steps, history, audit trail, the simulated
systems) and ``task_status``. A pii_viewer and a superuser are scanned
too, to show the scan looks where the data is.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from audit.fields import blind_lookup
from audit.models import AuditEvent
from examples.common.mailer import UNDELIVERABLE_DOMAIN
from examples.models import Customer, Payment, SupportTicket
from namespaces.models import Namespace
from tasker_project.core.actors import Actor
from tests.conftest import wait_for
from tests.factories import UserFactory, start, step_of
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Step, StepTransition, Task, TaskTransition
from workflows.services import step_approve, step_resolve

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

NAME = "Hedy Lamarr"
EMAIL = f"hedy.lamarr@{UNDELIVERABLE_DOMAIN}"
# Any of these in an output is a leak: the address, the name, and the
# surname alone (which the address's local part also holds).
NEEDLES = (EMAIL, NAME, "lamarr")
# Demo team members (seed_demo) without pii_viewer anywhere.
WITHOUT_PII = ("alice", "carol", "dave", "paul", "pam", "victor", "mallory")


@pytest.fixture
def refund(synced, worker, wait_task) -> dict[str, Task]:
    """Run the refund whose e-mail bounces, then resolve the e-mail by hand."""
    call_command("seed_demo", "--force", stdout=StringIO())
    users = {u.username: u for u in get_user_model().objects.all()}
    customer = Customer.objects.create(name=NAME, email=EMAIL, tier="standard")
    payment = Payment.objects.create(customer=customer, amount_cents=30000)
    ticket = SupportTicket.objects.create(
        customer=customer, payment=payment, subject=f"Refund for {NAME}"
    )
    parent = start(
        "customer_success.process_refund",
        {
            "ticket_id": ticket.ticket_id,
            "customer_id": customer.customer_id,
            "refund_amount": 15000,
            "refund_reason": "customer_request",
            "agent_notes": f"{NAME} was charged twice; call her back",
        },
        actor=Actor.of(users["alice"]),
    )
    wait_for(
        lambda: (
            step_of(parent, "get_manager_approval").status
            == StepStatus.WAITING_FOR_APPROVAL
        ),
        what="the approval step to wait",
    )
    step_approve(
        step=step_of(parent, "get_manager_approval"),
        actor=Actor.of(users["carol"]),
        comment="duplicate charge confirmed",
    )
    wait_task(parent, TaskStatus.FAILED, timeout=90)
    child = Task.objects.get(parent_step__task=parent)
    notify = step_of(child, "notify_customer")
    assert notify.status == StepStatus.FAILED
    assert notify.error["code"] == "email_undeliverable"
    step_resolve(
        step=notify,
        actor=Actor.of(users["paul"]),
        results={"to": EMAIL, "customer_name": NAME, "channel": "phone"},
        reason=f"phoned {NAME} instead",
    )
    wait_task(child, TaskStatus.COMPLETE, timeout=30)
    return {"parent": parent, "child": child}


def _admin_urls(tasks: dict[str, Task]) -> Iterator[str]:
    """Yield every admin page that shows the refund's data."""
    yield reverse("admin:index")
    for name in (
        "workflows_task",
        "workflows_step",
        "workflows_tasktransition",
        "workflows_steptransition",
        "audit_auditevent",
    ):
        yield reverse(f"admin:{name}_changelist")
    for task in tasks.values():
        yield reverse("admin:workflows_task_change", args=[task.pk])
        for transition in TaskTransition.objects.filter(task=task):
            yield reverse("admin:workflows_tasktransition_change", args=[transition.pk])
        for step in Step.objects.filter(task=task):
            for view in ("change", "resolve", "approve"):
                yield reverse(f"admin:workflows_step_{view}", args=[step.pk])
            for transition in StepTransition.objects.filter(step=step):
                yield reverse(
                    "admin:workflows_steptransition_change", args=[transition.pk]
                )
    for event in AuditEvent.objects.all():
        yield reverse("admin:audit_auditevent_change", args=[event.pk])
    for model in admin.site._registry:
        if model._meta.app_label == "examples":
            opts = model._meta
            yield reverse(f"admin:examples_{opts.model_name}_changelist")
    customer = Customer.objects.get(blind_lookup(Customer, "email", EMAIL))
    for obj in (
        customer,
        *customer.payments.all(),
        *customer.tickets.all(),
        *(
            refund
            for p in customer.payments.all()
            for refund in p.gateway_refunds.all()
        ),
        *(refund for p in customer.payments.all() for refund in p.refunds.all()),
    ):
        opts = obj._meta
        yield reverse(f"admin:examples_{opts.model_name}_change", args=[obj.pk])


def _api_urls(tasks: dict[str, Task]) -> Iterator[str]:
    """Yield every API resource that shows the refund's data."""
    yield "/api/v1/tasks/"
    yield "/api/v1/approvals/"
    for task in tasks.values():
        yield f"/api/v1/tasks/{task.pk}/"
        for step in Step.objects.filter(task=task):
            yield f"/api/v1/tasks/{task.pk}/steps/{step.pk}/"


def _command_outputs(tasks: dict[str, Task], *flags: str) -> Iterator[tuple[str, str]]:
    """Yield ``task_status``'s output for each task, as a table and as JSON."""
    for task in tasks.values():
        for extra in ((), ("--json",)):
            out = StringIO()
            call_command("task_status", str(task.pk), *extra, *flags, stdout=out)
            yield f"task_status {task.pk} {' '.join((*extra, *flags))}", out.getvalue()


def _outputs_for(user, tasks: dict[str, Task]) -> Iterator[tuple[str, int, str]]:
    """Yield (where, status, body) for everything ``user`` can open."""
    browser = Client()
    browser.force_login(user)
    for url in _admin_urls(tasks):
        response = browser.get(url)
        yield url, response.status_code, response.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    for url in _api_urls(tasks):
        response = api.get(url)
        yield url, response.status_code, response.content.decode()


def _leaks(body: str) -> list[str]:
    return [needle for needle in NEEDLES if needle.lower() in body.lower()]


def test_no_output_without_pii_viewer_holds_the_customers_email_or_name(refund):
    """After a refund whose mailer bounced, nothing a non-pii_viewer opens leaks."""
    users = get_user_model().objects.filter(username__in=WITHOUT_PII)
    assert users.count() == len(WITHOUT_PII)
    leaks: list[str] = []
    opened: dict[str, int] = {}
    for user in users:
        for where, status, body in _outputs_for(user, refund):
            opened[user.username] = opened.get(user.username, 0) + (status == 200)
            leaks += [f"{user.username} {where}: {n}" for n in _leaks(body)]
    # The CLI runs as a system actor; by default it masks like the API.
    for where, output in _command_outputs(refund):
        leaks += [f"{where}: {n}" for n in _leaks(output)]
    assert not leaks, "\n".join(leaks)
    # The scan opened real pages: each team member saw some, the payments
    # and customer success people saw the refund's.
    assert all(opened.get(name, 0) > 0 for name in WITHOUT_PII), opened
    assert opened["victor"] > 40, opened


def test_the_scan_finds_the_data_where_pii_viewer_may_see_it(refund):
    """A pii_viewer of both teams, a superuser and ``--show-pii`` see it in clear."""
    pia = UserFactory(
        username="pia",
        is_staff=True,
        roles={
            Namespace.objects.get(slug=slug): ["pii_viewer"]
            for slug in ("payments", "customer_success")
        },
    )
    seen = {where for where, _, body in _outputs_for(pia, refund) if _leaks(body)}
    child = refund["child"]
    assert f"/api/v1/tasks/{child.pk}/" in seen
    assert reverse("admin:examples_customer_changelist") in seen
    # Audit lists show prose, stored masked; an event's page opens its metadata.
    assert any(
        where.startswith(reverse("admin:audit_auditevent_changelist"))
        and where.endswith("/change/")
        for where in seen
    ), seen
    root = get_user_model().objects.get(username="admin")
    seen = {where for where, _, body in _outputs_for(root, refund) if _leaks(body)}
    assert reverse("admin:examples_customer_changelist") in seen
    shown = dict(_command_outputs({"child": child}, "--show-pii"))
    assert any(EMAIL in output for output in shown.values())


def _raw_database() -> bytes:
    """Return the database as stored: the SQLite file and its WAL, or a pg_dump."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        path = Path(settings_dict["NAME"])
        return b"".join(
            candidate.read_bytes()
            for candidate in (path, path.with_name(path.name + "-wal"))
            if candidate.exists()
        )
    command = [
        "pg_dump",
        "--no-owner",
        "-h",
        settings_dict["HOST"] or "127.0.0.1",
        "-p",
        str(settings_dict["PORT"] or 5432),
        "-U",
        settings_dict["USER"] or "postgres",
        settings_dict["NAME"],
    ]
    environment = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    return subprocess.run(
        command, capture_output=True, check=True, env=environment
    ).stdout


def test_the_raw_database_holds_no_customer_email_or_name(refund):
    """The bytes at rest (the SQLite file, or a pg_dump) never hold the plaintext.

    The refund's context, its steps' results, the bounce's error, the
    resolve's reason and results, the sent mail, the customer, the ticket
    and the audit trail all went through the database; none of them may
    store the customer's address or name, in any case.
    """
    raw = _raw_database().lower()
    assert len(raw) > 10_000  # a real database, not an empty file
    assert b"pii:1:" in raw  # and it holds sealed values
    for needle in NEEDLES:
        at = raw.find(needle.lower().encode())
        assert at < 0, (needle, raw[max(0, at - 300) : at + 100])
