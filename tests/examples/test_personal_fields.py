"""The examples' personal columns stay sealed on every write path."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.db import connection

from audit import crypto
from examples.customer_success.support_desk import ticket_resolve
from examples.models import Customer, SupportTicket

pytestmark = pytest.mark.django_db

NOTE = "Refunded Ada Lovelace in full"


def test_resolving_a_ticket_seals_its_note_and_audits_it_masked():
    """The resolving UPDATE writes a token, and its audit entry masks the note."""
    customer = Customer.objects.create(
        name="Ada Lovelace", email="ada@example.org", tier="basic"
    )
    ticket = SupportTicket.objects.create(customer=customer, subject="Refund please")
    ticket_resolve(
        idempotency_key="k1", ticket_id=ticket.ticket_id, refund_id="re_1", note=NOTE
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT resolution_note FROM examples_supportticket WHERE id = %s",
            [ticket.pk],
        )
        stored = cursor.fetchone()[0]
    assert crypto.is_token(stored)
    assert NOTE not in stored
    assert SupportTicket.objects.get(pk=ticket.pk).resolution_note == NOTE
    entry = LogEntry.objects.get_for_object(ticket).latest("timestamp")
    changes = entry.changes_dict
    assert changes["resolution_note"][1] == "********"
    assert changes["status"] == ["open", "resolved"]
    assert "data_key" not in changes
