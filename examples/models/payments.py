"""The payment records and the sandbox refund gateway."""

from django.db import models

from audit.fields import DataKeyField, EncryptedTextField, PIIQuerySet
from tasker_project.core.ids import uuid7
from tasker_project.core.timestamps import TimeStampedModel


def payment_id() -> str:
    """Return a new payment id (``pay_…``)."""
    return f"pay_{uuid7().hex}"


def refund_id() -> str:
    """Return a new gateway refund id (``re_…``)."""
    return f"re_{uuid7().hex}"


class RefundReason(models.TextChoices):
    CUSTOMER_REQUEST = "customer_request", "Customer request"
    FRAUD = "fraud", "Fraud"
    SYSTEM_ERROR = "system_error", "System error"
    CHARGEBACK = "chargeback", "Chargeback"


class Payment(TimeStampedModel):
    """A captured card payment as the payment records know it.

    Status: ``settling → captured`` once the settlement clears (each
    eligibility check spends one of ``settling_checks_remaining``, so a demo
    payment can settle on a chosen check); ``captured → partially_refunded
    → refunded`` as refunds are recorded; ``failed`` never captured money.
    ``refunded_cents`` only grows, never past ``amount_cents``. The
    description is free text about the customer's purchase: encrypted under
    the payment's data key, whose subject is the customer.
    """

    class Status(models.TextChoices):
        SETTLING = "settling", "Settling"
        CAPTURED = "captured", "Captured"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        FAILED = "failed", "Failed"

    REFUNDABLE_STATUSES = (Status.CAPTURED, Status.PARTIALLY_REFUNDED)

    payment_id = models.CharField(max_length=40, unique=True, default=payment_id)
    customer = models.ForeignKey(
        "examples.Customer", on_delete=models.PROTECT, related_name="payments"
    )
    amount_cents = models.PositiveIntegerField()
    refunded_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.CAPTURED
    )
    settling_checks_remaining = models.PositiveIntegerField(default=0)
    description = EncryptedTextField(max_length=255, blank=True)
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "customer__email"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0),
                name="examples_payment_amount_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_cents__lte=models.F("amount_cents")),
                name="examples_payment_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["settling", "captured", "failed"], refunded_cents=0
                )
                | models.Q(
                    status="partially_refunded",
                    refunded_cents__gt=0,
                    refunded_cents__lt=models.F("amount_cents"),
                )
                | models.Q(status="refunded", refunded_cents=models.F("amount_cents")),
                name="examples_payment_status_matches_refunds",
            ),
            models.CheckConstraint(
                condition=models.Q(status="settling")
                | models.Q(settling_checks_remaining=0),
                name="examples_payment_settling_checks_only_when_settling",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="examples_payment_status")]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.amount_cents}¢ {self.status}"

    @property
    def refundable_cents(self) -> int:
        """Return what may still be refunded."""
        return self.amount_cents - self.refunded_cents


class GatewayRefund(TimeStampedModel):
    """One refund the sandbox gateway made; one per idempotency key.

    Only refunds that moved money are stored: a refused refund is refused
    again on retry because the gateway's view of the payment has not
    changed. The gateway never refunds more than was captured in total.
    """

    refund_id = models.CharField(max_length=40, unique=True, default=refund_id)
    idempotency_key = models.CharField(max_length=255)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="gateway_refunds"
    )
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    reason = models.CharField(max_length=20, choices=RefundReason.choices)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_gatewayrefund_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0),
                name="examples_gatewayrefund_amount_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(reason__in=RefundReason.values),
                name="examples_gatewayrefund_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.amount_cents}¢ of {self.payment_id}"


class PaymentRefund(TimeStampedModel):
    """A gateway refund entered in the payment records; one per refund id.

    Entering it adds its amount to the payment's ``refunded_cents`` in the
    same transaction, so a retried records update never counts it twice.
    """

    refund_id = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=255)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds"
    )
    amount_cents = models.PositiveIntegerField()
    reason = models.CharField(max_length=20, choices=RefundReason.choices)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["refund_id"], name="examples_paymentrefund_unique_refund"
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_paymentrefund_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0),
                name="examples_paymentrefund_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} {self.amount_cents}¢ of {self.payment_id}"
