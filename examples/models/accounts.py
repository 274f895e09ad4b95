"""The user service, billing service and preferences service."""

from django.db import models

from audit.fields import (
    BlindIndexField,
    DataKeyField,
    EncryptedEmailField,
    EncryptedTextField,
    PIIQuerySet,
)
from examples.models.ids import user_id
from tasker_project.core.timestamps import TimeStampedModel


class Plan(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class UserAccount(TimeStampedModel):
    """An account of the user service.

    ``email`` is unique by its blind index (``email_index``); it and the
    name are encrypted under the account's data key. ``idempotency_key``
    names the registration that created the account: the same registration
    retried gets the same account, another registration for the email is
    refused. Status moves ``pending → active`` once, when the registration
    workflow finishes.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"

    user_id = models.CharField(max_length=40, unique=True, default=user_id)
    idempotency_key = models.CharField(max_length=255)
    email = EncryptedEmailField()
    email_index = BlindIndexField(source="email")
    name = EncryptedTextField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "email"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["email_index"],
                condition=~models.Q(email_index=""),
                name="examples_user_unique_email",
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_user_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(plan__in=["free", "pro", "enterprise"]),
                name="examples_user_plan_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", activated_at__isnull=True)
                | models.Q(status="active", activated_at__isnull=False),
                name="examples_user_activated_when_active",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="examples_user_status")]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.plan})"


class BillingProfile(TimeStampedModel):
    """The billing service's profile of one account: plan and monthly price."""

    account = models.OneToOneField(
        UserAccount, on_delete=models.CASCADE, related_name="billing_profile"
    )
    idempotency_key = models.CharField(max_length=255)
    plan = models.CharField(max_length=16, choices=Plan.choices)
    monthly_price_cents = models.PositiveIntegerField()
    billing_required = models.BooleanField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_billing_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.plan}"


class UserPreferences(TimeStampedModel):
    """The preferences service's settings of one account."""

    account = models.OneToOneField(
        UserAccount, on_delete=models.CASCADE, related_name="preferences"
    )
    idempotency_key = models.CharField(max_length=255)
    settings = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "user preferences"
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_preferences_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"preferences of {self.account_id}"
