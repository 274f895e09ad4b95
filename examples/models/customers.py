"""The CRM and the support desk: customers and their support tickets."""

from django.db import models

from audit.fields import (
    BlindIndexField,
    DataKeyField,
    EncryptedEmailField,
    EncryptedTextField,
    PIIQuerySet,
)
from tasker_project.core.ids import uuid7
from tasker_project.core.timestamps import TimeStampedModel


def customer_id() -> str:
    """Return a new customer id (``cus_…``)."""
    return f"cus_{uuid7().hex}"


def ticket_id() -> str:
    """Return a new support ticket id (``tkt_…``)."""
    return f"tkt_{uuid7().hex}"


class Customer(TimeStampedModel):
    """A customer of the CRM; the tier sets the refund policy limit.

    Name and e-mail are encrypted under the customer's data key; the
    e-mail is unique and looked up by its blind index (``email_index``).
    """

    class Tier(models.TextChoices):
        BASIC = "basic", "Basic"
        STANDARD = "standard", "Standard"
        PREMIUM = "premium", "Premium"

    customer_id = models.CharField(max_length=40, unique=True, default=customer_id)
    name = EncryptedTextField(max_length=200)
    email = EncryptedEmailField()
    email_index = BlindIndexField(source="email")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "email"

    class Meta:
        ordering = ["customer_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["email_index"],
                condition=~models.Q(email_index=""),
                name="examples_customer_unique_email",
            ),
            models.CheckConstraint(
                condition=models.Q(tier__in=["basic", "standard", "premium"]),
                name="examples_customer_tier_valid",
            ),
        ]
        indexes = [models.Index(fields=["tier"], name="examples_customer_tier")]

    def __str__(self) -> str:
        return f"{self.customer_id} ({self.tier})"


class SupportTicket(TimeStampedModel):
    """A support ticket of one customer, usually about one payment.

    Status moves ``open → resolved`` once, by the refund workflow, which
    records the refund, the resolving task and its idempotency key
    (``resolution_key``) so a retried resolution finds its own work. A
    ``closed`` ticket was closed without a refund and refuses one. Subject
    and resolution note are encrypted under the ticket's data key, whose
    subject is the customer.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    ticket_id = models.CharField(max_length=40, unique=True, default=ticket_id)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="tickets"
    )
    payment = models.ForeignKey(
        "examples.Payment",
        on_delete=models.PROTECT,
        related_name="tickets",
        null=True,
        blank=True,
    )
    subject = EncryptedTextField(max_length=200)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN
    )
    resolution_note = EncryptedTextField(blank=True)
    refund_id = models.CharField(max_length=40, blank=True)
    resolved_by_task = models.CharField(max_length=64, blank=True)
    resolution_key = models.CharField(max_length=255, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "customer__email"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["resolution_key"],
                condition=~models.Q(resolution_key=""),
                name="examples_ticket_unique_resolution_key",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "resolved", "closed"]),
                name="examples_ticket_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="resolved", resolved_at__isnull=False)
                | (~models.Q(status="resolved") & models.Q(resolved_at__isnull=True)),
                name="examples_ticket_resolved_at_when_resolved",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="examples_ticket_status")]

    def __str__(self) -> str:
        return f"{self.ticket_id} ({self.status})"
