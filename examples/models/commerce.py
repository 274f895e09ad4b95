"""The e-commerce systems: catalogue and stock, payment gateway, orders."""

from django.db import models

from audit.fields import (
    BlindIndexField,
    DataKeyField,
    EncryptedEmailField,
    PIIQuerySet,
)
from examples.models.ids import charge_id, order_number
from tasker_project.core.timestamps import TimeStampedModel


class InventoryItem(TimeStampedModel):
    """One product of the catalogue with its sellable stock.

    Stock never goes below zero: it is decremented by a conditional UPDATE
    and guarded by a check constraint.
    """

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    price_cents = models.PositiveIntegerField()
    stock = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stock__gte=0),
                name="examples_inventoryitem_stock_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})"


class StockReservation(TimeStampedModel):
    """Stock taken from one SKU for one reservation (an idempotency key).

    A reservation of a cart is one row per SKU; ``(idempotency_key, sku)``
    is unique, so a retried reservation never takes stock twice.
    """

    idempotency_key = models.CharField(max_length=255)
    item = models.ForeignKey(
        InventoryItem, on_delete=models.PROTECT, related_name="reservations"
    )
    quantity = models.PositiveIntegerField()
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key", "item"],
                name="examples_stockreservation_unique_key_item",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0),
                name="examples_stockreservation_quantity_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.item_id} ({self.idempotency_key})"


class GatewayCharge(TimeStampedModel):
    """One charge the simulated payment gateway processed, declined ones too.

    ``idempotency_key`` is unique: charging again with the same key returns
    this row, so a retried payment step never charges the customer twice.
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"

    charge_id = models.CharField(max_length=40, unique=True, default=charge_id)
    idempotency_key = models.CharField(max_length=255)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    payment_method = models.CharField(max_length=32)
    payment_token = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    decline_reason = models.CharField(max_length=100, blank=True)
    description = models.CharField(max_length=255, blank=True)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_gatewaycharge_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gt=0),
                name="examples_gatewaycharge_amount_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["succeeded", "declined"]),
                name="examples_gatewaycharge_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="examples_charge_status")]

    def __str__(self) -> str:
        return f"{self.charge_id} {self.amount_cents}¢ {self.status}"


class Order(TimeStampedModel):
    """An order the order service recorded; one per idempotency key.

    The customer's e-mail is encrypted under the order's data key and found
    by ``customer_email_index``.
    """

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed"

    order_number = models.CharField(max_length=40, unique=True, default=order_number)
    idempotency_key = models.CharField(max_length=255)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)
    customer_email = EncryptedEmailField()
    customer_email_index = BlindIndexField(source="customer_email")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CONFIRMED
    )
    lines = models.JSONField(default=list)
    subtotal_cents = models.PositiveIntegerField()
    tax_cents = models.PositiveIntegerField()
    shipping_cents = models.PositiveIntegerField()
    total_cents = models.PositiveIntegerField()
    charge = models.ForeignKey(
        GatewayCharge, on_delete=models.PROTECT, related_name="orders"
    )
    data_key = DataKeyField()

    objects = PIIQuerySet.as_manager()

    pii_subject = "customer_email"

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_order_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    total_cents=models.F("subtotal_cents")
                    + models.F("tax_cents")
                    + models.F("shipping_cents")
                ),
                name="examples_order_total_adds_up",
            ),
        ]
        indexes = [
            models.Index(
                fields=["customer_email_index"], name="examples_order_email_index"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_number} ({self.status})"
