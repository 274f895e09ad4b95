"""The simulated support desk: tickets and their resolution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.fields import seal_for
from audit.registry import log_update
from examples.models import SupportTicket
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class Resolution:
    """The resolved ticket and whether this call resolved it."""

    ticket: SupportTicket
    resolved_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this resolution."""
        return {
            "ticket_id": self.ticket.ticket_id,
            "status": self.ticket.status,
            "refund_id": self.ticket.refund_id,
            "resolution_note": self.ticket.resolution_note,
            "resolved_at": (
                self.ticket.resolved_at.isoformat() if self.ticket.resolved_at else None
            ),
            "resolved_now": self.resolved_now,
        }


def ticket_get(*, ticket_id: str) -> SupportTicket:
    """Return the ticket with its customer and payment.

    Raise :class:`PermanentError` (``ticket_not_found``) when there is none.
    """
    ticket = (
        SupportTicket.objects.select_related("customer", "payment")
        .filter(ticket_id=ticket_id)
        .first()
    )
    if ticket is None:
        raise PermanentError(
            f"support ticket {ticket_id!r} was not found", code="ticket_not_found"
        )
    return ticket


def ticket_resolve(
    *,
    idempotency_key: str,
    ticket_id: str,
    refund_id: str,
    note: str,
    task_id: str = "",
) -> Resolution:
    """Move the ticket ``open → resolved`` recording the refund, once per key.

    A conditional UPDATE resolves it; a retry with the same key finds the
    ticket it resolved. Raise :class:`PermanentError` (``ticket_not_open``)
    when the ticket was closed or resolved by someone else meanwhile.
    """
    now = timezone.now()
    with transaction.atomic():
        before = ticket_get(ticket_id=ticket_id)
        resolved = SupportTicket.objects.filter(
            ticket_id=ticket_id, status=SupportTicket.Status.OPEN
        ).update(
            status=SupportTicket.Status.RESOLVED,
            # The UPDATE skips pre_save: the note is sealed here, under the
            # ticket's key.
            resolution_note=seal_for(before, note),
            data_key=before.data_key_id,
            refund_id=refund_id,
            resolved_by_task=task_id,
            resolution_key=idempotency_key,
            resolved_at=now,
            updated_at=now,
        )
        ticket = ticket_get(ticket_id=ticket_id)
        if resolved:
            # The UPDATE sends no signal: its auditlog entry, written here.
            log_update(before, ticket)
    if resolved:
        return Resolution(ticket=ticket, resolved_now=True)
    if ticket.resolution_key != idempotency_key:
        raise PermanentError(
            f"support ticket {ticket_id} is {ticket.status}, not open; it was not "
            "resolved by this step",
            code="ticket_not_open",
        )
    return Resolution(ticket=ticket, resolved_now=False)
