"""The simulated user service: accounts, unique by e-mail."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from examples.models import UserAccount
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class AccountOutcome:
    """The account and whether this call changed it."""

    account: UserAccount
    changed_now: bool


def account_create(
    *, idempotency_key: str, email: str, name: str, plan: str, task_id: str = ""
) -> AccountOutcome:
    """Create a pending account once per registration (idempotency key).

    The same registration retried gets its account back; another
    registration for an e-mail already taken raises :class:`PermanentError`
    (``email_taken``).
    """
    email = email.strip().lower()
    account = UserAccount.objects.filter(idempotency_key=idempotency_key).first()
    if account is None:
        try:
            with transaction.atomic():
                account = UserAccount.objects.create(
                    idempotency_key=idempotency_key,
                    email=email,
                    name=name,
                    plan=plan,
                    task_id=task_id,
                )
            return AccountOutcome(account=account, changed_now=True)
        except IntegrityError:
            # Either this registration raced itself, or the e-mail is taken.
            account = UserAccount.objects.filter(
                idempotency_key=idempotency_key
            ).first()
            if account is None:
                raise PermanentError(
                    f"registration {idempotency_key!r}: an account with this "
                    "e-mail already exists",
                    code="email_taken",
                ) from None
    if account.email != email:
        raise PermanentError(
            f"registration {idempotency_key!r} already created an account for "
            f"another e-mail",
            code="idempotency_conflict",
        )
    return AccountOutcome(account=account, changed_now=False)


def account_get(*, user_id: str) -> UserAccount:
    """Return the account ``user_id``; raise :class:`PermanentError` if unknown."""
    account = UserAccount.objects.filter(user_id=user_id).first()
    if account is None:
        raise PermanentError(f"no account {user_id!r}", code="unknown_account")
    return account


def account_activate(*, user_id: str) -> AccountOutcome:
    """Move the account ``pending → active``; an active account stays as it is."""
    activated = UserAccount.objects.filter(
        user_id=user_id, status=UserAccount.Status.PENDING
    ).update(
        status=UserAccount.Status.ACTIVE,
        activated_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return AccountOutcome(
        account=account_get(user_id=user_id), changed_now=bool(activated)
    )
