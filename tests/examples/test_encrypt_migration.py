"""examples 0003 seals the personal values already stored, and unseals them back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit import crypto

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("examples", "0002_refunds")]
AFTER = [("examples", "0003_encrypt_personal_data")]
EMAIL = "ada@example.org"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def column(table: str, name: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(name)} FROM {table} ORDER BY id"  # noqa: S608 (fixed names)
        )
        return [row[0] for row in cursor.fetchall()]


def test_existing_rows_are_sealed_under_a_key_each_and_come_back_on_reverse():
    """Forward: tokens, blind indexes, one key per record; backward: the values."""
    old = migrate(BEFORE)
    Customer = old.get_model("examples", "Customer")
    customer = Customer.objects.create(
        customer_id="cus_m1", name="Ada Lovelace", email=EMAIL, tier="basic"
    )
    old.get_model("examples", "SupportTicket").objects.create(
        ticket_id="tkt_m1", customer=customer, subject="About Ada"
    )
    try:
        new = migrate(AFTER)
        names = column("examples_customer", "name")
        assert all(crypto.is_token(v) for v in names)
        assert column("examples_customer", "email_index") == [crypto.blind_index(EMAIL)]
        ticket = new.get_model("examples", "SupportTicket").objects.get()
        keys = new.get_model("audit", "DataKey").objects
        key = keys.get(pk=ticket.data_key_id)
        assert (key.owner_type, key.owner_id) == (
            "examples.supportticket",
            str(ticket.pk),
        )
        assert key.subject_index == crypto.blind_index(EMAIL)
        assert ticket.subject == "About Ada"
        assert crypto.is_token(column("examples_supportticket", "subject")[0])

        migrate(BEFORE)
        assert column("examples_customer", "name") == ["Ada Lovelace"]
        assert column("examples_supportticket", "subject") == ["About Ada"]
        assert not keys.filter(owner_type__startswith="examples.").exists()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes("examples"))
