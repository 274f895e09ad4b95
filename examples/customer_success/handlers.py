"""Step handlers of ``customer_success.process_refund`` (blog post 04).

validate_refund_request → check_refund_policy → get_manager_approval →
execute_refund_workflow → update_ticket_status. The approval step waits
for a person above the approval threshold; the refund itself is the
payments team's ``payments.process_refund``, run as a child task.

The approval step's results are the engine's (the approver's decision)
when a person decides, so execute_refund_workflow also depends on
check_refund_policy and reads the request from there.
"""

from __future__ import annotations

from typing import Any

from examples.common.faults import inject_fault, inject_fault_after_commit
from examples.common.mailer import email_send
from examples.customer_success.support_desk import ticket_get, ticket_resolve
from examples.models import SupportTicket
from examples.payments.records import payment_get
from workflows.handlers import (
    AwaitApproval,
    PermanentError,
    StartSubtask,
    StepContext,
    StepHandler,
)

DEFAULT_TIER_LIMITS_CENTS = {"standard": 20_000, "premium": 50_000}
DEFAULT_LIMIT_CENTS = 10_000
DEFAULT_APPROVAL_THRESHOLD_CENTS = 10_000
DEFAULT_REFUND_REASON = "customer_request"
# The payments step whose results carry the gateway's refund id.
REFUND_ID_PATH = "process_gateway_refund.refund_id"


def dollars(cents: int) -> str:
    """Return ``cents`` as ``$1,234.56``."""
    return f"${cents // 100:,}.{cents % 100:02d}"


class ValidateRefundRequest(StepHandler):
    """Check the ticket is open, the customer's, and tied to a payment."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        ticket_id = ctx.context["ticket_id"]
        customer_id = ctx.context["customer_id"]
        inject_fault(ctx, system="support_desk")
        ticket = ticket_get(ticket_id=ticket_id)
        if ticket.status != SupportTicket.Status.OPEN:
            raise PermanentError(
                f"support ticket {ticket_id} is {ticket.status}; only an open "
                "ticket can be refunded",
                code="ticket_not_open",
            )
        customer = ticket.customer
        if customer.customer_id != customer_id:
            raise PermanentError(
                f"support ticket {ticket_id} belongs to customer "
                f"{customer.customer_id}, not {customer_id}",
                code="customer_mismatch",
            )
        payment_id = ctx.context.get("payment_id") or (
            ticket.payment.payment_id if ticket.payment else None
        )
        if payment_id is None:
            raise PermanentError(
                f"support ticket {ticket_id} names no payment; pass payment_id",
                code="payment_missing",
            )
        payment = payment_get(payment_id=payment_id)
        if payment.customer_id != customer.pk:
            raise PermanentError(
                f"payment {payment_id} is not a payment of customer {customer_id}",
                code="payment_customer_mismatch",
            )
        return {
            "ticket_id": ticket.ticket_id,
            "customer_id": customer.customer_id,
            "tier": customer.tier,
            "customer_email": ctx.context.get("customer_email") or customer.email,
            "payment_id": payment_id,
            "refund_amount": ctx.context["refund_amount"],
            "refund_reason": ctx.context.get("refund_reason", DEFAULT_REFUND_REASON),
            "agent_notes": ctx.context.get("agent_notes", ""),
        }


class CheckRefundPolicy(StepHandler):
    """Deny a refund above the customer's tier limit."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        request = ctx.result_of("validate_refund_request")
        config = ctx.handler_config
        limits = config.get("tier_limits_cents", DEFAULT_TIER_LIMITS_CENTS)
        limit = int(
            limits.get(
                request["tier"], config.get("default_limit_cents", DEFAULT_LIMIT_CENTS)
            )
        )
        inject_fault(ctx, system="refund_policy")
        amount = request["refund_amount"]
        if amount > limit:
            raise PermanentError(
                f"refund of {amount} cents exceeds the {request['tier']} tier limit "
                f"of {limit} cents (ticket {request['ticket_id']})",
                code="refund_exceeds_policy_limit",
            )
        return {**request, "limit_cents": limit}


class GetManagerApproval(StepHandler):
    """Wait for a manager above the approval threshold; approve below it."""

    def process(self, ctx: StepContext) -> dict[str, Any] | AwaitApproval:
        policy = ctx.result_of("check_refund_policy")
        threshold = int(
            ctx.handler_config.get(
                "approval_threshold_cents", DEFAULT_APPROVAL_THRESHOLD_CENTS
            )
        )
        inject_fault(ctx, system="approvals")
        amount = policy["refund_amount"]
        summary = {
            "amount_cents": amount,
            "tier": policy["tier"],
            "limit_cents": policy["limit_cents"],
            "approval_threshold_cents": threshold,
            "refund_reason": policy["refund_reason"],
            "ticket_id": policy["ticket_id"],
            "customer_id": policy["customer_id"],
            "payment_id": policy["payment_id"],
        }
        if amount > threshold:
            return AwaitApproval(
                reason=(
                    f"refund of {dollars(amount)} on ticket {policy['ticket_id']} is "
                    f"above the {dollars(threshold)} approval threshold"
                ),
                details={**summary, "agent_notes": policy["agent_notes"]},
            )
        return {**summary, "auto_approved": True, "approved_by": "policy"}


class ExecuteRefundWorkflow(StepHandler):
    """Start ``payments.process_refund`` for the approved refund as a child task."""

    def process(self, ctx: StepContext) -> StartSubtask:
        policy = ctx.result_of("check_refund_policy")
        # Refuses to run (permanently) if a definition ever drops the approval
        # dependency: no refund starts without an approval decision.
        ctx.result_of("get_manager_approval")
        inject_fault(ctx, system="payments_api")
        payment = payment_get(payment_id=policy["payment_id"])
        amount = policy["refund_amount"]
        context = {
            "payment_id": policy["payment_id"],
            "refund_amount": amount,
            "refund_reason": policy["refund_reason"],
            "partial_refund": amount < payment.refundable_cents,
            "customer_email": policy["customer_email"],
        }
        correlation_id = ctx.correlation_id or ctx.context.get("correlation_id")
        if correlation_id:
            context["correlation_id"] = correlation_id
        config = ctx.handler_config
        return StartSubtask(
            namespace=config.get("namespace", "payments"),
            workflow=config.get("workflow", "process_refund"),
            version=config.get("version"),
            context=context,
            outputs={"refund_id": REFUND_ID_PATH},
        )


class UpdateTicketStatus(StepHandler):
    """Resolve the ticket with the refund id and tell the customer, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        refund = ctx.result_of("execute_refund_workflow")
        refund_id = refund.get("refund_id")
        if not refund_id:
            raise PermanentError(
                f"payments task {refund.get('child_task_id')} reported no refund id",
                code="refund_id_missing",
            )
        amount = ctx.context["refund_amount"]
        note = (
            f"Refunded {dollars(amount)} as {refund_id} "
            f"(payments task {refund.get('child_task_id')})."
        )
        inject_fault(ctx, system="support_desk")
        resolution = ticket_resolve(
            idempotency_key=ctx.idempotency_key,
            ticket_id=ctx.context["ticket_id"],
            refund_id=refund_id,
            note=note,
            task_id=ctx.task_id,
        )
        ticket = resolution.ticket
        delivery = email_send(
            idempotency_key=f"{ctx.idempotency_key}:email",
            to=ctx.context.get("customer_email") or ticket.customer.email,
            subject=f"Ticket {ticket.ticket_id} resolved: {dollars(amount)} refunded",
            body=(
                f"Hello,\n\nyour ticket {ticket.ticket_id} is resolved: we refunded "
                f"{dollars(amount)} (refund {refund_id}). It reaches your account "
                "within 5-10 business days.\n"
            ),
            template="refund_ticket_resolved",
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="support_desk")
        return {
            **resolution.as_result(),
            "child_task_id": refund.get("child_task_id"),
            "notification": delivery.as_result(),
        }
