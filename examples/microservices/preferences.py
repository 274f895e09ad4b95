"""The simulated preferences service: one settings document per account."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from examples.models import UserAccount, UserPreferences
from workflows.handlers import PermanentError

DEFAULT_PREFERENCES: dict[str, Any] = {
    "newsletter": False,
    "product_tips": True,
    "theme": "system",
    "language": "en",
    "timezone": "UTC",
}


@dataclass(frozen=True)
class PreferencesOutcome:
    """The stored preferences and whether this call stored them."""

    preferences: UserPreferences
    created_now: bool


def preferences_initialize(
    *,
    idempotency_key: str,
    account: UserAccount,
    chosen: Mapping[str, Any],
    defaults: Mapping[str, Any] = DEFAULT_PREFERENCES,
) -> PreferencesOutcome:
    """Store ``defaults`` overridden by ``chosen`` for ``account``, once per key.

    Raise :class:`PermanentError` when the account already has preferences
    stored by another request.
    """
    try:
        preferences, created = UserPreferences.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={"account": account, "settings": {**defaults, **chosen}},
        )
    except IntegrityError:
        raise PermanentError(
            f"account {account.user_id} already has preferences",
            code="preferences_exist",
        ) from None
    if preferences.account_id != account.pk:
        raise PermanentError(
            f"preferences key {idempotency_key!r} already stored preferences of "
            "another account",
            code="idempotency_conflict",
        )
    return PreferencesOutcome(preferences=preferences, created_now=created)
