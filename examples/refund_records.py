"""Customers, support tickets and payments for the refund workflows.

The fixed records are the ones the docs' walkthrough and the example
contexts name (``cus_1001``, ``tkt_1001``, ``pay_1001`` …), one per branch
of the refund workflows; :func:`demo_records_create` makes fresh ones for
demos, load tests and fault tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from examples.models import (
    Customer,
    GatewayRefund,
    Payment,
    PaymentRefund,
    SupportTicket,
)
from examples.models.customers import customer_id as new_customer_id

# (customer_id, name, tier)
FIXED_CUSTOMERS = [
    ("cus_1001", "Jordan Lee", Customer.Tier.STANDARD),
    ("cus_1002", "Priya Shah", Customer.Tier.PREMIUM),
]
# (payment_id, customer_id, captured cents, status, settling checks)
FIXED_PAYMENTS = [
    ("pay_1001", "cus_1001", 30_000, Payment.Status.CAPTURED, 0),
    ("pay_1002", "cus_1002", 80_000, Payment.Status.CAPTURED, 0),
    # Fully refunded by the gateway and in the records.
    ("pay_1003", "cus_1001", 12_000, Payment.Status.REFUNDED, 0),
    # Still settling on its first two eligibility checks, captured on the third.
    ("pay_1004", "cus_1002", 40_000, Payment.Status.SETTLING, 2),
    ("pay_1005", "cus_1001", 5_000, Payment.Status.CAPTURED, 0),
    # The full refund of the payments.process_refund 2.0.0 example.
    ("pay_1006", "cus_1002", 12_500, Payment.Status.CAPTURED, 0),
]
# (ticket_id, customer_id, payment_id, status, subject)
FIXED_TICKETS = [
    ("tkt_1001", "cus_1001", "pay_1001", "open", "Charged twice for one order"),
    ("tkt_1002", "cus_1002", "pay_1002", "open", "Order arrived damaged"),
    ("tkt_1003", "cus_1001", "pay_1003", "open", "Refund for a refunded order"),
    ("tkt_1004", "cus_1002", "pay_1004", "open", "Cancelled before shipping"),
    ("tkt_1005", "cus_1001", "pay_1005", "closed", "Where is my parcel?"),
]


@dataclass(frozen=True)
class DemoRecord:
    """One fresh customer with an open ticket about one payment."""

    customer: Customer
    ticket: SupportTicket
    payment: Payment

    def as_dict(self) -> dict[str, Any]:
        """Return the ids and amounts a script needs to start a refund."""
        return {
            "customer_id": self.customer.customer_id,
            "customer_email": self.customer.email,
            "tier": self.customer.tier,
            "ticket_id": self.ticket.ticket_id,
            "payment_id": self.payment.payment_id,
            "amount_cents": self.payment.amount_cents,
            "payment_status": self.payment.status,
            "settling_checks": self.payment.settling_checks_remaining,
        }


def customer_email(customer_id: str) -> str:
    """Return the demo e-mail address of ``customer_id``."""
    return f"{customer_id}@example.com"


def seed_refund_records() -> None:
    """Create the fixed customers, payments and tickets that do not exist yet.

    Existing rows are left exactly as they are (``get_or_create``), so
    re-seeding never undoes a refund, a resolved ticket or a settled
    ``pay_1004``; delete a row to have the next seed recreate it fresh.
    """
    with transaction.atomic():
        customers = {}
        for cid, name, tier in FIXED_CUSTOMERS:
            customers[cid], _ = Customer.objects.get_or_create(
                customer_id=cid,
                defaults={"name": name, "tier": tier, "email": customer_email(cid)},
            )
        payments = {}
        for pid, cid, amount, status, checks in FIXED_PAYMENTS:
            payments[pid] = _seed_payment(pid, customers[cid], amount, status, checks)
        for tid, cid, pid, ticket_status, subject in FIXED_TICKETS:
            SupportTicket.objects.get_or_create(
                ticket_id=tid,
                defaults={
                    "customer": customers[cid],
                    "payment": payments[pid],
                    "status": ticket_status,
                    "subject": subject,
                },
            )


def _seed_payment(
    payment_id: str, customer: Customer, amount: int, status: str, checks: int
) -> Payment:
    refunded = status == Payment.Status.REFUNDED
    payment, created = Payment.objects.get_or_create(
        payment_id=payment_id,
        defaults={
            "customer": customer,
            "amount_cents": amount,
            "refunded_cents": amount if refunded else 0,
            "status": status,
            "settling_checks_remaining": checks,
            "description": f"demo payment of {customer.customer_id}",
        },
    )
    if created and refunded:
        # The refund both systems know about, as a real one would leave it.
        gateway = GatewayRefund.objects.create(
            idempotency_key=f"seed:{payment_id}",
            payment=payment,
            amount_cents=amount,
            reason="customer_request",
        )
        PaymentRefund.objects.create(
            refund_id=gateway.refund_id,
            idempotency_key=f"seed:{payment_id}",
            payment=payment,
            amount_cents=amount,
            reason="customer_request",
        )
    return payment


def demo_records_create(
    *,
    count: int,
    tier: str,
    amount_cents: int,
    settling_checks: int = 0,
) -> list[DemoRecord]:
    """Create ``count`` customers, each with an open ticket about one payment.

    The payment is captured for ``amount_cents``, or settling for its first
    ``settling_checks`` eligibility checks. All rows or none.
    """
    records = []
    with transaction.atomic():
        for number in range(1, count + 1):
            cid = new_customer_id()
            customer = Customer.objects.create(
                customer_id=cid,
                name=f"Demo customer {number}",
                email=customer_email(cid),
                tier=tier,
            )
            payment = Payment.objects.create(
                customer=customer,
                amount_cents=amount_cents,
                status=(
                    Payment.Status.SETTLING
                    if settling_checks
                    else Payment.Status.CAPTURED
                ),
                settling_checks_remaining=settling_checks,
                description="demo payment",
            )
            ticket = SupportTicket.objects.create(
                customer=customer,
                payment=payment,
                subject="Refund request (demo)",
            )
            records.append(
                DemoRecord(customer=customer, ticket=ticket, payment=payment)
            )
    return records
