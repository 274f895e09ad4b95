"""The sandbox refund gateway: one refund per idempotency key.

The gateway keeps its own tally of what it refunded per payment and
refuses to go past the captured amount, whatever the payment records say:
records may lag behind the gateway (a refund made whose records update
has not run yet), money may not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum

from examples.models import GatewayRefund, Payment
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class RefundOutcome:
    """The gateway's refund and whether this call made it."""

    refund: GatewayRefund
    refunded_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this refund."""
        return {
            "refund_id": self.refund.refund_id,
            "payment_id": self.refund.payment.payment_id,
            "amount_cents": self.refund.amount_cents,
            "currency": self.refund.currency,
            "reason": self.refund.reason,
            "refunded_now": self.refunded_now,
        }


def refund_create(
    *,
    idempotency_key: str,
    payment_id: str,
    amount_cents: int,
    reason: str,
    task_id: str = "",
) -> RefundOutcome:
    """Refund ``amount_cents`` of ``payment_id`` once per ``idempotency_key``.

    A key seen before returns its refund, even when that refund emptied
    the payment. Raise :class:`PermanentError` for an unknown or
    uncaptured payment (``invalid_payment``), a payment the gateway already
    refunded in full (``already_refunded``), an amount above what it still
    holds (``refund_exceeds_refundable``) and a key reused for another
    payment or amount (``idempotency_conflict``).
    """
    existing = _refund(idempotency_key)
    if existing is not None:
        return _replayed(existing, payment_id, amount_cents)
    try:
        with transaction.atomic():
            refund = _refund_locked(
                idempotency_key, payment_id, amount_cents, reason, task_id
            )
    except IntegrityError:
        # A concurrent attempt with the same key refunded first.
        existing = _refund(idempotency_key)
        if existing is None:
            raise
        return _replayed(existing, payment_id, amount_cents)
    return RefundOutcome(refund=refund, refunded_now=True)


def _refund_locked(
    idempotency_key: str, payment_id: str, amount_cents: int, reason: str, task_id: str
) -> GatewayRefund:
    payment = Payment.objects.select_for_update().filter(payment_id=payment_id).first()
    if payment is None or payment.status in (
        Payment.Status.SETTLING,
        Payment.Status.FAILED,
    ):
        state = "unknown" if payment is None else payment.status
        raise PermanentError(
            f"gateway refused payment {payment_id!r}: invalid payment ({state})",
            code="invalid_payment",
        )
    refunded = (
        payment.gateway_refunds.aggregate(total=Sum("amount_cents"))["total"] or 0
    )
    remaining = payment.amount_cents - refunded
    if remaining <= 0:
        raise PermanentError(
            f"gateway refused payment {payment_id}: already refunded "
            f"({refunded} of {payment.amount_cents} cents)",
            code="already_refunded",
        )
    if amount_cents > remaining:
        raise PermanentError(
            f"gateway refused {amount_cents} cents of payment {payment_id}: only "
            f"{remaining} cents are left to refund",
            code="refund_exceeds_refundable",
        )
    return GatewayRefund.objects.create(
        idempotency_key=idempotency_key,
        payment=payment,
        amount_cents=amount_cents,
        currency=payment.currency,
        reason=reason,
        task_id=task_id,
    )


def _refund(idempotency_key: str) -> GatewayRefund | None:
    return (
        GatewayRefund.objects.select_related("payment")
        .filter(idempotency_key=idempotency_key)
        .first()
    )


def _replayed(
    refund: GatewayRefund, payment_id: str, amount_cents: int
) -> RefundOutcome:
    if (refund.payment.payment_id, refund.amount_cents) != (payment_id, amount_cents):
        raise PermanentError(
            f"refund key was already used for {refund.amount_cents} cents of "
            f"{refund.payment.payment_id}",
            code="idempotency_conflict",
        )
    return RefundOutcome(refund=refund, refunded_now=False)
