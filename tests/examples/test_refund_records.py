"""The refund demo records: fixed ones from the seed, fresh ones on demand."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from examples.models import Customer, GatewayRefund, Payment, SupportTicket
from examples.seed import seed_examples
from tests.examples.helpers import PAYMENTS, example, run_payments
from tests.worker import ROOT

pytestmark = pytest.mark.django_db


def test_the_fixed_records_cover_every_branch(seeded) -> None:
    """Customers, tickets and payments the docs' walkthrough relies on."""
    customers = dict(Customer.objects.values_list("customer_id", "tier"))
    assert customers == {"cus_1001": "standard", "cus_1002": "premium"}
    assert Customer.objects.get(customer_id="cus_1002").email == (
        "cus_1002@example.com"
    )
    tickets = {
        t.ticket_id: (t.customer.customer_id, t.payment.payment_id, t.status)
        for t in SupportTicket.objects.select_related("customer", "payment")
    }
    assert tickets == {
        "tkt_1001": ("cus_1001", "pay_1001", "open"),
        "tkt_1002": ("cus_1002", "pay_1002", "open"),
        "tkt_1003": ("cus_1001", "pay_1003", "open"),
        "tkt_1004": ("cus_1002", "pay_1004", "open"),
        "tkt_1005": ("cus_1001", "pay_1005", "closed"),
    }
    payments = {
        p.payment_id: (p.amount_cents, p.refunded_cents, p.status)
        for p in Payment.objects.all()
    }
    assert payments["pay_1001"] == (30_000, 0, "captured")
    assert payments["pay_1002"] == (80_000, 0, "captured")
    assert payments["pay_1003"][2] == "refunded"
    assert payments["pay_1003"][0] == payments["pay_1003"][1]
    assert payments["pay_1004"][2] == "settling"
    assert Payment.objects.get(payment_id="pay_1004").settling_checks_remaining == 2
    assert GatewayRefund.objects.get().payment.payment_id == "pay_1003"


def test_reseeding_leaves_refunds_and_resolutions_alone(seeded) -> None:
    """A second seed neither restores a refunded amount nor reopens a ticket."""
    run_payments(example(PAYMENTS))
    SupportTicket.objects.filter(ticket_id="tkt_1002").update(status="closed")
    Payment.objects.filter(payment_id="pay_1004").update(
        status="captured", settling_checks_remaining=0
    )
    again = seed_examples()
    assert again == seeded
    assert Payment.objects.get(payment_id="pay_1002").refunded_cents == 2_500
    assert SupportTicket.objects.get(ticket_id="tkt_1002").status == "closed"
    assert Payment.objects.get(payment_id="pay_1004").status == "captured"
    assert GatewayRefund.objects.filter(payment__payment_id="pay_1003").count() == 1


def test_create_demo_records_prints_the_new_ids_as_json(db) -> None:
    """--json lists each customer with its open ticket and its payment."""
    out = StringIO()
    call_command(
        "create_demo_records",
        "--customers=3",
        "--tier=premium",
        "--amount=25000",
        "--json",
        stdout=out,
    )
    records = json.loads(out.getvalue())
    assert len(records) == 3
    for record in records:
        customer = Customer.objects.get(customer_id=record["customer_id"])
        assert customer.tier == "premium"
        assert customer.email == f"{record['customer_id']}@example.com"
        ticket = SupportTicket.objects.get(ticket_id=record["ticket_id"])
        assert (ticket.status, ticket.customer, ticket.payment.payment_id) == (
            "open",
            customer,
            record["payment_id"],
        )
        assert record["amount_cents"] == ticket.payment.amount_cents == 25_000
        assert record["payment_status"] == "captured"
        assert record["payment_id"].startswith("pay_")
        assert record["ticket_id"].startswith("tkt_")


def test_fresh_payments_can_be_refunded(db) -> None:
    """A fresh payment goes through payments.process_refund like a fixed one."""
    out = StringIO()
    call_command("create_demo_records", "--json", stdout=out)
    record = json.loads(out.getvalue())[0]
    context = {
        "payment_id": record["payment_id"],
        "refund_amount": 1_000,
        "refund_reason": "system_error",
    }
    run_payments(context)
    assert Payment.objects.get(payment_id=record["payment_id"]).refunded_cents == 1_000


def test_settling_checks_make_settling_payments(db) -> None:
    """--settling-checks 2 makes payments that settle on their third check."""
    out = StringIO()
    call_command("create_demo_records", "--settling-checks=2", stdout=out)
    payment = Payment.objects.get()
    assert (payment.status, payment.settling_checks_remaining) == ("settling", 2)
    assert payment.payment_id in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--customers=0"], "--customers"),
        (["--tier=gold"], "--tier"),
        (["--amount=0"], "--amount"),
        (["--settling-checks=-1"], "--settling-checks"),
        (["--customers=many"], "--customers"),
    ],
)
def test_bad_input_names_the_option(db, argv: list[str], option: str) -> None:
    """A bad option is refused, named, and nothing is created."""
    with pytest.raises(CommandError) as raised:
        call_command("create_demo_records", *argv, stdout=StringIO())
    assert option in str(raised.value)
    assert not Customer.objects.exists()


def test_bad_input_exits_with_status_two() -> None:
    """From the shell, a bad option exits 2 with a message and no traceback."""
    completed = subprocess.run(
        [sys.executable, "manage.py", "create_demo_records", "--tier=gold"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "--tier" in completed.stderr
    assert "Traceback" not in completed.stderr
