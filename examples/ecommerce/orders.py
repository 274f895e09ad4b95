"""The simulated order service: one order per idempotency key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from examples.models import GatewayCharge, Order
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class OrderOutcome:
    """The recorded order and whether this call created it."""

    order: Order
    created_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this order."""
        return {
            "order_number": self.order.order_number,
            "status": self.order.status,
            "total_cents": self.order.total_cents,
            "charge_id": self.order.charge.charge_id,
            "created_now": self.created_now,
        }


def order_create(
    *,
    idempotency_key: str,
    customer_email: str,
    cart: Mapping[str, Any],
    charge_id: str,
    task_id: str = "",
) -> OrderOutcome:
    """Record the order of a priced ``cart`` paid by ``charge_id``, once per key.

    Raise :class:`PermanentError` when the charge is unknown, not succeeded
    or for another amount than the cart's total: an order is only recorded
    for money actually taken.
    """
    charge = GatewayCharge.objects.filter(charge_id=charge_id).first()
    if charge is None or charge.status != GatewayCharge.Status.SUCCEEDED:
        raise PermanentError(
            f"charge {charge_id!r} is not a succeeded charge", code="charge_invalid"
        )
    if charge.amount_cents != cart["total_cents"]:
        raise PermanentError(
            f"charge {charge_id!r} took {charge.amount_cents} cents, the cart "
            f"totals {cart['total_cents']}",
            code="charge_amount_mismatch",
        )
    order, created = Order.objects.select_related("charge").get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "task_id": task_id,
            "customer_email": customer_email,
            "lines": list(cart["lines"]),
            "subtotal_cents": cart["subtotal_cents"],
            "tax_cents": cart["tax_cents"],
            "shipping_cents": cart["shipping_cents"],
            "total_cents": cart["total_cents"],
            "charge": charge,
        },
    )
    if not created and order.charge_id != charge.pk:
        raise PermanentError(
            f"order {order.order_number} was already recorded for another charge",
            code="idempotency_conflict",
        )
    return OrderOutcome(order=order, created_now=created)
