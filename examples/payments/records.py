"""The simulated payment records: eligibility checks and refund entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.registry import log_update
from examples.models import Payment, PaymentRefund
from workflows.handlers import PermanentError, RetryableError


@dataclass(frozen=True)
class RefundEntry:
    """The records' entry of one refund and whether this call made it."""

    entry: PaymentRefund
    payment: Payment
    recorded_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this entry."""
        return {
            "refund_id": self.entry.refund_id,
            "payment_id": self.payment.payment_id,
            "amount_cents": self.entry.amount_cents,
            "refunded_cents": self.payment.refunded_cents,
            "refundable_cents": self.payment.refundable_cents,
            "payment_status": self.payment.status,
            "customer_email": self.payment.customer.email,
            "recorded_now": self.recorded_now,
        }


def payment_get(*, payment_id: str) -> Payment:
    """Return the payment; raise :class:`PermanentError` when there is none."""
    payment = (
        Payment.objects.select_related("customer").filter(payment_id=payment_id).first()
    )
    if payment is None:
        raise PermanentError(
            f"payment {payment_id!r} was not found", code="payment_not_found"
        )
    return payment


def payment_check_settled(*, payment_id: str, retry_after: float) -> Payment:
    """Return the payment once its settlement has cleared.

    A settling payment spends one of its remaining checks per call, by a
    conditional UPDATE so concurrent checks each spend one, and raises
    :class:`RetryableError` (``payment_settling``) while any was left; the
    first check that finds none left moves it ``settling → captured``.
    """
    payment = payment_get(payment_id=payment_id)
    if payment.status != Payment.Status.SETTLING:
        return payment
    with transaction.atomic():
        spent = Payment.objects.filter(
            pk=payment.pk,
            status=Payment.Status.SETTLING,
            settling_checks_remaining__gt=0,
        ).update(
            settling_checks_remaining=F("settling_checks_remaining") - 1,
            updated_at=timezone.now(),
        )
        captured = (
            0
            if spent
            else Payment.objects.filter(
                pk=payment.pk, status=Payment.Status.SETTLING
            ).update(status=Payment.Status.CAPTURED, updated_at=timezone.now())
        )
        after = payment_get(payment_id=payment_id)
        if spent or captured:
            # The UPDATEs send no signal: their auditlog entry, written here.
            log_update(payment, after)
    if spent:
        raise RetryableError(
            f"payment {payment_id} is still settling; retry in {retry_after:g}s",
            retry_after=retry_after,
            code="payment_settling",
        )
    return after


def payment_record_refund(
    *,
    idempotency_key: str,
    refund_id: str,
    payment_id: str,
    amount_cents: int,
    reason: str,
    task_id: str = "",
) -> RefundEntry:
    """Enter gateway refund ``refund_id`` in the records, once.

    The entry and the payment's new ``refunded_cents`` and status are
    written in one transaction; entering the same refund again returns the
    first entry. Raise :class:`PermanentError` when the entry would take
    the refunds past the captured amount (``refund_exceeds_captured``).
    """
    existing = _entry(refund_id)
    if existing is not None:
        return _replayed(existing, payment_id, amount_cents)
    try:
        with transaction.atomic():
            payment = Payment.objects.select_for_update().get(
                pk=payment_get(payment_id=payment_id).pk
            )
            refunded = payment.refunded_cents + amount_cents
            if refunded > payment.amount_cents:
                raise PermanentError(
                    f"refund {refund_id} of {amount_cents} cents would take payment "
                    f"{payment_id} past its captured {payment.amount_cents} cents",
                    code="refund_exceeds_captured",
                )
            entry = PaymentRefund.objects.create(
                refund_id=refund_id,
                idempotency_key=idempotency_key,
                payment=payment,
                amount_cents=amount_cents,
                reason=reason,
                task_id=task_id,
            )
            payment.refunded_cents = refunded
            payment.status = (
                Payment.Status.REFUNDED
                if refunded == payment.amount_cents
                else Payment.Status.PARTIALLY_REFUNDED
            )
            payment.save(update_fields=["refunded_cents", "status", "updated_at"])
    except IntegrityError:
        # A concurrent attempt entered the same refund first.
        existing = _entry(refund_id)
        if existing is None:
            raise
        return _replayed(existing, payment_id, amount_cents)
    return RefundEntry(
        entry=entry, payment=payment_get(payment_id=payment_id), recorded_now=True
    )


def _entry(refund_id: str) -> PaymentRefund | None:
    return (
        PaymentRefund.objects.select_related("payment__customer")
        .filter(refund_id=refund_id)
        .first()
    )


def _replayed(entry: PaymentRefund, payment_id: str, amount_cents: int) -> RefundEntry:
    if (entry.payment.payment_id, entry.amount_cents) != (payment_id, amount_cents):
        raise PermanentError(
            f"refund {entry.refund_id} is already recorded for "
            f"{entry.amount_cents} cents of {entry.payment.payment_id}",
            code="idempotency_conflict",
        )
    return RefundEntry(entry=entry, payment=entry.payment, recorded_now=False)
