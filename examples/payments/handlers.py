"""Step handlers of ``payments.process_refund`` (blog post 04, payments team).

2.1.0: validate_payment_eligibility → process_gateway_refund →
update_payment_records → notify_customer, partial refunds allowed.
2.0.0: the first three steps, full refunds of the remainder only. The
versions share these handlers; ``handler_config.allow_partial`` is the
difference, so a task keeps its rule whichever version is the default.

The gateway refund carries the step's idempotency key, the records entry
is keyed by the gateway's refund id and the e-mail by its own step's key:
a retried step never refunds, records or notifies twice.
"""

from __future__ import annotations

from typing import Any

from examples.common.faults import inject_fault, inject_fault_after_commit
from examples.common.mailer import email_send
from examples.models import Payment
from examples.payments.gateway import refund_create
from examples.payments.records import payment_check_settled, payment_record_refund
from workflows.handlers import PermanentError, StepContext, StepHandler

DEFAULT_SETTLING_RETRY_AFTER = 1.0


class ValidatePaymentEligibility(StepHandler):
    """Check the payment is settled, refundable and holds the amount."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        payment_id = ctx.context["payment_id"]
        amount = ctx.context["refund_amount"]
        inject_fault(ctx, system="payment_records")
        payment = payment_check_settled(
            payment_id=payment_id,
            retry_after=float(
                ctx.handler_config.get(
                    "settling_retry_after_seconds", DEFAULT_SETTLING_RETRY_AFTER
                )
            ),
        )
        if payment.status not in Payment.REFUNDABLE_STATUSES:
            raise PermanentError(
                f"payment {payment_id} is {payment.status} and cannot be refunded",
                code="payment_not_refundable",
            )
        remaining = payment.refundable_cents
        if amount > remaining:
            raise PermanentError(
                f"refund of {amount} cents exceeds the {remaining} cents still "
                f"refundable on payment {payment_id}",
                code="refund_exceeds_refundable",
            )
        partial = amount < remaining
        if not ctx.handler_config.get("allow_partial", True) and partial:
            raise PermanentError(
                f"{ctx.namespace}.{ctx.workflow} {ctx.version} refunds the whole "
                f"remainder only: payment {payment_id} has {remaining} cents "
                f"refundable, {amount} requested",
                code="full_refund_required",
            )
        claimed = ctx.context.get("partial_refund")
        if claimed is not None and claimed != partial:
            raise PermanentError(
                f"partial_refund is {str(claimed).lower()} but {amount} of the "
                f"{remaining} refundable cents of payment {payment_id} is a "
                f"{'partial' if partial else 'full'} refund",
                code="partial_refund_mismatch",
            )
        return {
            "payment_id": payment.payment_id,
            "customer_id": payment.customer.customer_id,
            "customer_email": payment.customer.email,
            "payment_status": payment.status,
            "captured_cents": payment.amount_cents,
            "refunded_cents": payment.refunded_cents,
            "refundable_cents": remaining,
            "refund_amount": amount,
            "currency": payment.currency,
            "partial_refund": partial,
        }


class ProcessGatewayRefund(StepHandler):
    """Refund the amount through the sandbox gateway, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        eligibility = ctx.result_of("validate_payment_eligibility")
        inject_fault(ctx, system="refund_gateway")
        outcome = refund_create(
            idempotency_key=ctx.idempotency_key,
            payment_id=eligibility["payment_id"],
            amount_cents=eligibility["refund_amount"],
            reason=ctx.context["refund_reason"],
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="refund_gateway")
        return {**outcome.as_result(), "partial_refund": eligibility["partial_refund"]}


class UpdatePaymentRecords(StepHandler):
    """Enter the gateway's refund in the payment records, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        refund = ctx.result_of("process_gateway_refund")
        inject_fault(ctx, system="payment_records")
        entry = payment_record_refund(
            idempotency_key=ctx.idempotency_key,
            refund_id=refund["refund_id"],
            payment_id=refund["payment_id"],
            amount_cents=refund["amount_cents"],
            reason=refund["reason"],
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="payment_records")
        return entry.as_result()


class NotifyCustomer(StepHandler):
    """E-mail the customer that the refund is on its way, once."""

    def process(self, ctx: StepContext) -> dict[str, Any]:
        record = ctx.result_of("update_payment_records")
        to = ctx.context.get("customer_email") or record["customer_email"]
        amount = record["amount_cents"]
        inject_fault(ctx, system="mailer")
        delivery = email_send(
            idempotency_key=ctx.idempotency_key,
            to=to,
            subject=f"Your refund of ${amount // 100}.{amount % 100:02d} is on its way",
            body=(
                f"Hello,\n\nwe refunded ${amount // 100}.{amount % 100:02d} of payment "
                f"{record['payment_id']} (refund {record['refund_id']}). It reaches "
                "your account within 5-10 business days.\n"
            ),
            template="refund_processed",
            task_id=ctx.task_id,
        )
        inject_fault_after_commit(ctx, system="mailer")
        return {**delivery.as_result(), "refund_id": record["refund_id"]}
