"""The simulated mailer: accepts a message once per idempotency key.

A real mail provider deduplicates on an idempotency key; so does this one,
by a unique constraint, so a retried step that resends an e-mail never
delivers it twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from examples.models import SentEmail
from workflows.handlers import PermanentError

# Addresses the simulated provider refuses, to demonstrate a hard bounce.
UNDELIVERABLE_DOMAIN = "bounce.example.com"


@dataclass(frozen=True)
class Delivery:
    """What the mailer answered: the message and whether this call sent it."""

    email: SentEmail
    sent_now: bool

    def as_result(self) -> dict[str, object]:
        """Return the JSON a step reports for this delivery."""
        return {
            "message_id": self.email.message_id,
            "to": self.email.to,
            "template": self.email.template,
            "sent_now": self.sent_now,
        }


def email_send(
    *,
    idempotency_key: str,
    to: str,
    subject: str,
    body: str,
    template: str,
    task_id: str = "",
) -> Delivery:
    """Send one message, or return the one already sent with this key.

    Raise :class:`PermanentError` for an undeliverable address, and when
    the key was already used for a different recipient or template, which
    is a caller bug a retry cannot fix. The messages name the message by
    its idempotency key and never the address: an error message is read by
    people who may not see personal data, and is copied into tracebacks,
    transition reasons and logs.
    """
    if to.rsplit("@", 1)[-1].lower() == UNDELIVERABLE_DOMAIN:
        raise PermanentError(
            f"mailer refused the recipient of message {idempotency_key!r}: "
            f"domain {UNDELIVERABLE_DOMAIN} bounces every message",
            code="email_undeliverable",
        )
    email, created = SentEmail.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "to": to,
            "subject": subject,
            "body": body,
            "template": template,
            "task_id": task_id,
        },
    )
    if not created and (email.to, email.template) != (to, template):
        raise PermanentError(
            f"mailer idempotency key {idempotency_key!r} was already used for "
            f"message {email.message_id} ({email.template!r}) to another "
            "recipient or template",
            code="idempotency_conflict",
        )
    return Delivery(email=email, sent_now=created)
