"""The cross-team refund end to end with a real Celery worker (post 04).

alice (customer_success operator) asks for a refund above the approval
threshold; an approver other than the initiator decides; the payments child
task refunds through the sandbox gateway exactly once; the ticket resolves.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from examples.models import GatewayRefund, Payment, SupportTicket
from namespaces.models import NamespaceGrant
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied
from tests.conftest import wait_for
from tests.factories import start, step_of
from workflows.engine.states import StepStatus, TaskStatus
from workflows.models import Task
from workflows.services import step_approve, step_reject, step_resolve, step_retry

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REFUND = {"ticket_id": "tkt_1001", "customer_id": "cus_1001", "refund_amount": 15000}


@pytest.fixture
def demo(synced):
    """The seeded demo: teams, people, the grant and the fixed records."""
    call_command("seed_demo", "--force", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return {u.username: u for u in get_user_model().objects.all()}


def _as(user) -> Actor:
    return Actor.of(user)


def _wait_for_approval(task: Task) -> None:
    wait_for(
        lambda: (
            step_of(task, "get_manager_approval").status
            == StepStatus.WAITING_FOR_APPROVAL
        ),
        timeout=60,
        what="the approval step to wait",
    )


def test_alice_starts_carol_approves_payments_refunds_once(demo, worker, wait_task):
    task = start(
        "customer_success.process_refund",
        {
            **REFUND,
            "refund_reason": "customer_request",
            "agent_notes": "double charged",
        },
        actor=_as(demo["alice"]),
    )
    _wait_for_approval(task)
    assert not GatewayRefund.objects.filter(payment__payment_id="pay_1001").exists()

    step_approve(
        step=step_of(task, "get_manager_approval"),
        actor=_as(demo["carol"]),
        comment="double charge confirmed",
    )
    wait_task(task, TaskStatus.COMPLETE, timeout=90)

    refunds = GatewayRefund.objects.filter(payment__payment_id="pay_1001")
    assert refunds.count() == 1
    assert refunds.get().amount_cents == 15000
    assert Payment.objects.get(payment_id="pay_1001").refunded_cents == 15000

    execute = step_of(task, "execute_refund_workflow")
    child = Task.objects.get(pk=execute.results["child_task_id"])
    assert child.namespace.slug == "payments"
    assert child.status == TaskStatus.COMPLETE
    assert child.correlation_id == task.correlation_id
    assert execute.results["refund_id"] == refunds.get().refund_id

    ticket = SupportTicket.objects.get(ticket_id="tkt_1001")
    assert ticket.status == "resolved"
    assert ticket.refund_id == refunds.get().refund_id


def test_carol_cannot_approve_her_own_request_but_dave_can(demo, worker, wait_task):
    task = start(
        "customer_success.process_refund",
        {**REFUND, "ticket_id": "tkt_1002", "customer_id": "cus_1002"},
        actor=_as(demo["carol"]),
    )
    _wait_for_approval(task)
    with pytest.raises(PermissionDenied, match="four-eyes"):
        step_approve(
            step=step_of(task, "get_manager_approval"),
            actor=_as(demo["carol"]),
            comment="looks fine to me",
        )
    assert step_of(task, "get_manager_approval").status == (
        StepStatus.WAITING_FOR_APPROVAL
    )
    step_approve(
        step=step_of(task, "get_manager_approval"),
        actor=_as(demo["dave"]),
        comment="approved as manager",
    )
    wait_task(task, TaskStatus.COMPLETE, timeout=90)
    assert GatewayRefund.objects.filter(payment__payment_id="pay_1002").count() == 1


def test_rejection_fails_the_task_and_refunds_nothing(demo, worker, wait_task):
    task = start("customer_success.process_refund", REFUND, actor=_as(demo["alice"]))
    _wait_for_approval(task)
    step_reject(
        step=step_of(task, "get_manager_approval"),
        actor=_as(demo["dave"]),
        comment="outside the refund window",
    )
    wait_task(task, TaskStatus.FAILED, timeout=30)
    approval = step_of(task, "get_manager_approval")
    assert approval.error["code"] == "approval_rejected"
    assert "outside the refund window" in approval.error["message"]
    assert not GatewayRefund.objects.filter(payment__payment_id="pay_1001").exists()
    assert SupportTicket.objects.get(ticket_id="tkt_1001").status == "open"


def test_without_the_grant_the_call_fails_naming_it(demo, worker, wait_task):
    NamespaceGrant.objects.all().delete()
    task = start(
        "customer_success.process_refund",
        {**REFUND, "refund_amount": 5000},  # below the threshold: auto-approved
        actor=_as(demo["alice"]),
    )
    wait_task(task, TaskStatus.FAILED, timeout=60)
    execute = step_of(task, "execute_refund_workflow")
    assert execute.error["code"] == "missing_grant"
    assert (
        "customer_success has no grant to start payments.process_refund"
        in (execute.error["message"])
    )
    assert step_of(task, "get_manager_approval").results["auto_approved"] is True
    assert not Task.objects.filter(namespace__slug="payments").exists()


def test_settling_payment_is_retried_until_captured(demo, worker, wait_task):
    """pay_1004 is still settling for two checks; the refund waits it out."""
    task = start(
        "customer_success.process_refund",
        {"ticket_id": "tkt_1004", "customer_id": "cus_1002", "refund_amount": 8000},
        actor=_as(demo["alice"]),
    )
    wait_task(task, TaskStatus.COMPLETE, timeout=90)
    child = Task.objects.get(parent_step__task=task)
    assert step_of(child, "validate_payment_eligibility").attempts == 3
    assert GatewayRefund.objects.filter(payment__payment_id="pay_1004").count() == 1


def test_a_retried_partial_refund_rejoins_the_child_it_started(demo, worker, wait_task):
    """The child fails at notify_customer, payments resolves it, the caller retries.

    The child's input was computed from payment data the refund itself
    changed (15,000 of 30,000 was a partial refund; after it, 15,000 is all
    that is left), so recomputing it asks for another child. The retry
    rejoins the child it started instead: no idempotency conflict, no second
    refund, and the refund id comes from that child.
    """
    task = start(
        "customer_success.process_refund",
        {**REFUND, "customer_email": "jordan@bounce.example.com"},
        actor=_as(demo["alice"]),
    )
    _wait_for_approval(task)
    step_approve(
        step=step_of(task, "get_manager_approval"),
        actor=_as(demo["dave"]),
        comment="double charge confirmed",
    )
    wait_task(task, TaskStatus.FAILED, timeout=90)
    child = Task.objects.get(parent_step__task=task)
    assert child.context["partial_refund"] is True
    notify = step_of(child, "notify_customer")
    assert notify.error["code"] == "email_undeliverable"
    assert step_of(task, "execute_refund_workflow").error["code"] == "subtask_failed"

    # The payments team tells the customer by phone and resolves its step.
    step_resolve(
        step=notify,
        actor=_as(demo["paul"]),
        results={"message_id": "by phone", "refund_id": "see gateway"},
        reason="customer told by phone",
    )
    wait_task(child, TaskStatus.COMPLETE, timeout=30)
    assert Payment.objects.get(payment_id="pay_1001").refunded_cents == 15000

    step_retry(step=step_of(task, "execute_refund_workflow"), actor=_as(demo["alice"]))
    wait_for(
        lambda: step_of(task, "execute_refund_workflow").status == StepStatus.COMPLETE,
        timeout=60,
        what="the retried subworkflow step to rejoin its child",
    )
    execute = step_of(task, "execute_refund_workflow")
    refund = GatewayRefund.objects.get(payment__payment_id="pay_1001")
    assert execute.results["child_task_id"] == str(child.pk)
    assert execute.results["refund_id"] == refund.refund_id
    assert Task.objects.filter(parent_step__task=task).count() == 1
    assert GatewayRefund.objects.filter(payment__payment_id="pay_1001").count() == 1
