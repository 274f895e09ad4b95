"""customer_success.process_refund handlers: ticket, policy, approval, child."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from examples.models import Customer, SentEmail, SupportTicket
from tests.examples.helpers import (
    CUSTOMER_SUCCESS,
    PAYMENTS,
    definition,
    example,
    run_payments,
    run_step,
    run_steps,
)
from workflows.handlers import AwaitApproval, PermanentError, StartSubtask

pytestmark = pytest.mark.django_db

CS = CUSTOMER_SUCCESS
BEFORE_APPROVAL = ["validate_refund_request", "check_refund_policy"]


def policy_results(context: dict) -> dict:
    """Run validate_refund_request and check_refund_policy."""
    return run_steps(CS, context, BEFORE_APPROVAL)


def approved_results(context: dict) -> dict:
    """Results up to an approval, as a person's decision would leave them."""
    results = policy_results(context)
    results["get_manager_approval"] = {"approved": True, "approved_by": "carol"}
    return results


def child_results(subtask: StartSubtask, task_id: str = "child-1") -> dict:
    """Run the child refund in-process; return the step results the engine sets."""
    child = run_payments(subtask.context, task_id=task_id)
    return {
        "child_task_id": task_id,
        "child_workflow": "payments.process_refund@2.1.0",
        "child_status": "complete",
        "refund_id": child["process_gateway_refund"]["refund_id"],
    }


def test_the_example_request_passes_validation_and_policy(seeded) -> None:
    """tkt_1001 is open, cus_1001's, and names pay_1001; 15,000 is within 20,000."""
    results = policy_results(example(CS))
    request = results["validate_refund_request"]
    assert request["payment_id"] == "pay_1001"
    assert request["tier"] == "standard"
    assert request["customer_email"] == "cus_1001@example.com"
    assert results["check_refund_policy"]["limit_cents"] == 20_000


def test_a_closed_ticket_is_refused_naming_it(seeded) -> None:
    """tkt_1005 is closed: the refund fails permanently before any policy check."""
    context = example(CS, ticket_id="tkt_1005", refund_amount=1_000)
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "validate_refund_request", context)
    assert raised.value.code == "ticket_not_open"
    assert "tkt_1005 is closed" in raised.value.message


def test_an_unknown_ticket_is_refused(seeded) -> None:
    """A ticket id the support desk lacks fails permanently, named."""
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "validate_refund_request", example(CS, ticket_id="tkt_9"))
    assert raised.value.code == "ticket_not_found"
    assert "tkt_9" in raised.value.message


def test_the_customer_must_be_the_tickets(seeded) -> None:
    """cus_1002 cannot be refunded on cus_1001's ticket."""
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "validate_refund_request", example(CS, customer_id="cus_1002"))
    assert raised.value.code == "customer_mismatch"


def test_a_payment_of_another_customer_is_refused(seeded) -> None:
    """An explicit payment_id must belong to the ticket's customer."""
    context = example(CS, payment_id="pay_1002")
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "validate_refund_request", context)
    assert raised.value.code == "payment_customer_mismatch"


@pytest.mark.parametrize(
    ("tier", "limit"), [("standard", 20_000), ("premium", 50_000), ("basic", 10_000)]
)
def test_the_policy_limit_follows_the_tier(seeded, tier: str, limit: int) -> None:
    """At the tier limit the refund passes; one cent above, it is denied."""
    Customer.objects.filter(customer_id="cus_1001").update(tier=tier)
    at_limit = policy_results(example(CS, refund_amount=limit))
    assert at_limit["check_refund_policy"]["limit_cents"] == limit
    with pytest.raises(PermanentError) as raised:
        policy_results(example(CS, refund_amount=limit + 1))
    assert raised.value.code == "refund_exceeds_policy_limit"
    assert f"{tier} tier limit of {limit} cents" in raised.value.message


def test_above_the_threshold_a_manager_must_approve(seeded) -> None:
    """15,000 cents > 10,000: the step waits, showing the approver the request."""
    context = example(CS)
    results = policy_results(context)
    decision = run_step(CS, "get_manager_approval", context, results)
    assert isinstance(decision, AwaitApproval)
    assert "$150.00" in decision.reason
    assert "tkt_1001" in decision.reason
    assert decision.details == {
        "amount_cents": 15_000,
        "tier": "standard",
        "limit_cents": 20_000,
        "approval_threshold_cents": 10_000,
        "refund_reason": "customer_request",
        "ticket_id": "tkt_1001",
        "customer_id": "cus_1001",
        "payment_id": "pay_1001",
        "agent_notes": context["agent_notes"],
    }
    json.dumps(decision.details)


@pytest.mark.parametrize("amount", [10_000, 500])
def test_at_or_below_the_threshold_the_step_approves_itself(
    seeded, amount: int
) -> None:
    """The approval step completes with auto_approved, recording the policy."""
    context = example(CS, refund_amount=amount)
    results = policy_results(context)
    decision = run_step(CS, "get_manager_approval", context, results)
    assert isinstance(decision, dict)
    assert decision["auto_approved"] is True
    assert decision["approved_by"] == "policy"
    assert decision["amount_cents"] == amount


def test_the_threshold_is_handler_config(seeded) -> None:
    """A lower approval_threshold_cents asks a manager for smaller refunds."""
    context = example(CS, refund_amount=500)
    results = policy_results(context)
    decision = run_step(
        CS,
        "get_manager_approval",
        context,
        results,
        handler_config={"approval_threshold_cents": 100},
    )
    assert isinstance(decision, AwaitApproval)


def test_the_refund_runs_as_a_payments_child_task(seeded) -> None:
    """execute_refund_workflow asks the engine for payments.process_refund."""
    context = example(CS, refund_reason="fraud")
    results = approved_results(context)
    subtask = run_step(CS, "execute_refund_workflow", context, results, task_id="p-1")
    assert isinstance(subtask, StartSubtask)
    assert (subtask.namespace, subtask.workflow, subtask.version) == (
        "payments",
        "process_refund",
        None,
    )
    assert subtask.context == {
        "payment_id": "pay_1001",
        "refund_amount": 15_000,
        "refund_reason": "fraud",
        "partial_refund": True,
        "customer_email": "cus_1001@example.com",
        "correlation_id": "corr-p-1",
    }
    assert subtask.outputs == {"refund_id": "process_gateway_refund.refund_id"}


def test_the_child_context_passes_the_payments_schema(seeded) -> None:
    """What customer success sends is a valid payments.process_refund context."""
    context = example(CS)
    del context["refund_reason"]
    del context["customer_email"]
    subtask = run_step(
        CS, "execute_refund_workflow", context, approved_results(context)
    )
    assert subtask.context["refund_reason"] == "customer_request"
    schema = definition(PAYMENTS)["context_schema"]
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    assert list(validator.iter_errors(dict(subtask.context))) == []


def test_refunding_the_whole_remainder_is_not_partial(seeded) -> None:
    """The second 15,000 of pay_1001's 30,000 is its full remainder."""
    context = example(CS)
    first = run_step(CS, "execute_refund_workflow", context, approved_results(context))
    child_results(first, task_id="child-a")
    second = run_step(CS, "execute_refund_workflow", context, approved_results(context))
    assert second.context["partial_refund"] is False
    child_results(second, task_id="child-b")


def test_the_ticket_is_resolved_with_the_refund_once(seeded) -> None:
    """update_ticket_status records the refund id, twice run, resolved once."""
    context = example(CS)
    results = approved_results(context)
    subtask = run_step(CS, "execute_refund_workflow", context, results)
    results["execute_refund_workflow"] = child_results(subtask)
    refund_id = results["execute_refund_workflow"]["refund_id"]
    first = run_step(CS, "update_ticket_status", context, results, attempt=1)
    again = run_step(CS, "update_ticket_status", context, results, attempt=2)
    assert (first["resolved_now"], again["resolved_now"]) == (True, False)
    assert first["refund_id"] == refund_id
    assert first["notification"]["message_id"] == again["notification"]["message_id"]
    ticket = SupportTicket.objects.get(ticket_id="tkt_1001")
    assert (ticket.status, ticket.refund_id) == ("resolved", refund_id)
    assert ticket.resolved_by_task == "task-1"
    assert refund_id in ticket.resolution_note
    emails = SentEmail.objects.filter(template="refund_ticket_resolved")
    assert [e.to for e in emails] == ["cus_1001@example.com"]
    assert context["agent_notes"] not in emails[0].body


def test_a_ticket_resolved_by_another_task_is_not_resolved_again(seeded) -> None:
    """Two tasks on one ticket: the second one's resolution fails permanently."""
    context = example(CS)
    results = approved_results(context)
    subtask = run_step(CS, "execute_refund_workflow", context, results)
    results["execute_refund_workflow"] = child_results(subtask)
    run_step(CS, "update_ticket_status", context, results, task_id="t-a")
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "update_ticket_status", context, results, task_id="t-b")
    assert raised.value.code == "ticket_not_open"


def test_a_child_without_a_refund_id_fails_the_resolution(seeded) -> None:
    """No refund id from the child: the ticket stays open."""
    context = example(CS)
    results = {"execute_refund_workflow": {"child_task_id": "c-1"}}
    with pytest.raises(PermanentError) as raised:
        run_step(CS, "update_ticket_status", context, results)
    assert raised.value.code == "refund_id_missing"
    assert SupportTicket.objects.get(ticket_id="tkt_1001").status == "open"


def test_the_already_refunded_ticket_fails_in_the_payments_child(seeded) -> None:
    """tkt_1003 passes customer success's checks; payments refuses pay_1003."""
    context = example(CS, ticket_id="tkt_1003", refund_amount=5_000)
    results = policy_results(context)
    assert run_step(CS, "get_manager_approval", context, results)["auto_approved"]
    results["get_manager_approval"] = {"auto_approved": True}
    subtask = run_step(CS, "execute_refund_workflow", context, results)
    assert subtask.context["payment_id"] == "pay_1003"
    with pytest.raises(PermanentError) as raised:
        run_payments(subtask.context)
    assert raised.value.code == "payment_not_refundable"
