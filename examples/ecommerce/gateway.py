"""The simulated payment gateway: one charge per idempotency key.

Like a real gateway, it records declined charges too, so a retried step
gets the same decline rather than a second attempt at the card.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from examples.models import GatewayCharge
from workflows.handlers import PermanentError

DEFAULT_DECLINE_TOKENS = ("tok_declined",)


@dataclass(frozen=True)
class ChargeOutcome:
    """The gateway's charge and whether this call created it."""

    charge: GatewayCharge
    charged_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this charge."""
        return {
            "charge_id": self.charge.charge_id,
            "amount_cents": self.charge.amount_cents,
            "currency": self.charge.currency,
            "status": self.charge.status,
            "charged_now": self.charged_now,
        }


def charge_create(
    *,
    idempotency_key: str,
    amount_cents: int,
    currency: str,
    payment_method: str,
    payment_token: str,
    description: str = "",
    decline_tokens: Collection[str] = DEFAULT_DECLINE_TOKENS,
    task_id: str = "",
) -> ChargeOutcome:
    """Charge ``amount_cents`` to ``payment_token`` once per ``idempotency_key``.

    Raise :class:`PermanentError` when the card is declined (``card_declined``)
    and when the key was used for a different amount or token
    (``idempotency_conflict``).
    """
    if amount_cents <= 0:
        raise PermanentError(
            f"cannot charge {amount_cents} cents: the amount must be positive",
            code="invalid_amount",
        )
    declined = payment_token in decline_tokens
    charge, created = GatewayCharge.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "amount_cents": amount_cents,
            "currency": currency,
            "payment_method": payment_method,
            "payment_token": payment_token,
            "status": (
                GatewayCharge.Status.DECLINED
                if declined
                else GatewayCharge.Status.SUCCEEDED
            ),
            "decline_reason": "card_declined" if declined else "",
            "description": description[:255],
            "task_id": task_id,
        },
    )
    if not created and (charge.amount_cents, charge.payment_token) != (
        amount_cents,
        payment_token,
    ):
        raise PermanentError(
            f"charge key {idempotency_key!r} was already used for "
            f"{charge.amount_cents} cents on another token or amount",
            code="idempotency_conflict",
        )
    if charge.status == GatewayCharge.Status.DECLINED:
        raise PermanentError(
            f"gateway declined charge {charge.charge_id} of {charge.amount_cents} "
            f"cents: {charge.decline_reason}",
            code="card_declined",
        )
    return ChargeOutcome(charge=charge, charged_now=created)
