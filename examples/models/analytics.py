"""The analytics systems: warehouse source tables and the dashboard.

The warehouse tables mirror an upstream store, so they hold references
(``user_ref``, ``sku``) rather than foreign keys: an order whose user is
missing is a data-quality finding, not an integrity error.
"""

from django.db import models

from examples.models.ids import snapshot_id
from tasker_project.core.timestamps import TimeStampedModel


class WarehouseUser(TimeStampedModel):
    """A customer as the warehouse knows it."""

    user_ref = models.CharField(max_length=32, unique=True)
    country = models.CharField(max_length=2)
    signed_up_on = models.DateField(db_index=True)

    class Meta:
        ordering = ["user_ref"]

    def __str__(self) -> str:
        return self.user_ref


class WarehouseProduct(TimeStampedModel):
    """A product as the warehouse knows it, with its unit cost."""

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=50, db_index=True)
    price_cents = models.PositiveIntegerField()
    cost_cents = models.PositiveIntegerField()

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} ({self.name})"


class WarehouseOrder(TimeStampedModel):
    """One order line: a quantity of one product bought by one user."""

    order_ref = models.CharField(max_length=32, unique=True)
    user_ref = models.CharField(max_length=32)
    sku = models.CharField(max_length=32)
    quantity = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    ordered_on = models.DateField()

    class Meta:
        ordering = ["ordered_on", "order_ref"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0),
                name="examples_warehouseorder_quantity_positive",
            ),
        ]
        indexes = [
            models.Index(fields=["ordered_on"], name="examples_whorder_ordered_on"),
        ]

    def __str__(self) -> str:
        return self.order_ref


class DashboardSnapshot(TimeStampedModel):
    """One published state of an analytics dashboard; one per idempotency key."""

    snapshot_id = models.CharField(max_length=40, unique=True, default=snapshot_id)
    idempotency_key = models.CharField(max_length=255)
    dashboard = models.CharField(max_length=100, db_index=True)
    start_date = models.DateField()
    end_date = models.DateField()
    metrics = models.JSONField(default=dict)
    insights = models.JSONField(default=list)
    task_id = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"], name="examples_dashboard_unique_key"
            ),
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="examples_dashboard_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dashboard} {self.start_date}…{self.end_date}"
