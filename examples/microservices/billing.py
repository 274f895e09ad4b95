"""The simulated billing service: one billing profile per account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError

from examples.models import BillingProfile, UserAccount
from workflows.handlers import PermanentError

DEFAULT_MONTHLY_PRICE_CENTS = {"free": 0, "pro": 2_900, "enterprise": 29_900}


@dataclass(frozen=True)
class BillingOutcome:
    """The profile and whether this call created it."""

    profile: BillingProfile
    created_now: bool


def billing_profile_create(
    *,
    idempotency_key: str,
    account: UserAccount,
    plan: str,
    prices_cents: Mapping[str, int] = DEFAULT_MONTHLY_PRICE_CENTS,
) -> BillingOutcome:
    """Open the billing profile of ``account`` on ``plan``, once per key.

    Raise :class:`PermanentError` for a plan without a price and when the
    account already has a profile opened by another request.
    """
    if plan not in prices_cents:
        raise PermanentError(
            f"billing has no price for plan {plan!r}", code="unknown_plan"
        )
    price = int(prices_cents[plan])
    try:
        profile, created = BillingProfile.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "account": account,
                "plan": plan,
                "monthly_price_cents": price,
                "billing_required": price > 0,
            },
        )
    except IntegrityError:
        raise PermanentError(
            f"account {account.user_id} already has a billing profile",
            code="billing_profile_exists",
        ) from None
    if profile.account_id != account.pk:
        raise PermanentError(
            f"billing key {idempotency_key!r} already opened a profile for another "
            "account",
            code="idempotency_conflict",
        )
    return BillingOutcome(profile=profile, created_now=created)
