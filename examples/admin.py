"""Admin of the simulated external systems: what each system did, read-mostly.

Rows written by a system (charges, reservations, orders, e-mails,
snapshots, accounts, refunds) are view-only: changing them by hand would
make the admin lie about what the workflows did. The catalogue stays
editable so an operator can restock or retire a SKU for a demo, and
customers, tickets and payments can be added for a refund demo (or in bulk
with ``manage.py create_demo_records``); a payment's refunds and a
ticket's resolution are only ever written by the workflows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from examples.models import (
    BillingProfile,
    Customer,
    DashboardSnapshot,
    GatewayCharge,
    GatewayRefund,
    InventoryItem,
    Order,
    Payment,
    PaymentRefund,
    SentEmail,
    StockReservation,
    SupportTicket,
    UserAccount,
    UserPreferences,
    WarehouseOrder,
    WarehouseProduct,
    WarehouseUser,
)
from namespaces.permissions import namespaces_for


class TeamVisibleMixin:
    """Let staff who hold any team role look at the simulated systems.

    These stand in for systems outside Tasker (a gateway, a help desk), not
    team data, so every team member may read them for a walkthrough;
    changing anything stays with superusers.
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or _holds_a_role(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return super().has_view_permission(request, obj) or _holds_a_role(request)  # type: ignore[misc]


def _holds_a_role(request: HttpRequest) -> bool:
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    cached = request.__dict__.get("_examples_holds_role")
    if cached is None:
        cached = namespaces_for(user).exists()
        request.__dict__["_examples_holds_role"] = cached
    return cached


class SystemRecordAdmin(TeamVisibleMixin, admin.ModelAdmin):
    """View-only admin for rows an external system wrote."""

    date_hierarchy = "created_at"
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InventoryItem)
class InventoryItemAdmin(TeamVisibleMixin, admin.ModelAdmin):
    list_display = ["sku", "name", "price_cents", "stock", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StockReservation)
class StockReservationAdmin(SystemRecordAdmin):
    list_display = ["idempotency_key", "item", "quantity", "task_id", "created_at"]
    list_select_related = ["item"]
    search_fields = ["idempotency_key", "task_id", "item__sku"]


@admin.register(GatewayCharge)
class GatewayChargeAdmin(SystemRecordAdmin):
    list_display = [
        "charge_id",
        "amount_cents",
        "currency",
        "status",
        "payment_method",
        "task_id",
        "created_at",
    ]
    list_filter = ["status", "payment_method", "currency"]
    search_fields = ["charge_id", "idempotency_key", "task_id", "description"]


@admin.register(Order)
class OrderAdmin(SystemRecordAdmin):
    list_display = [
        "order_number",
        "customer_email",
        "status",
        "total_cents",
        "charge",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["charge"]
    search_fields = ["order_number", "customer_email", "idempotency_key", "task_id"]


@admin.register(SentEmail)
class SentEmailAdmin(SystemRecordAdmin):
    list_display = ["message_id", "to", "template", "subject", "task_id", "created_at"]
    list_filter = ["template"]
    search_fields = ["message_id", "to", "subject", "idempotency_key", "task_id"]


@admin.register(WarehouseUser)
class WarehouseUserAdmin(SystemRecordAdmin):
    date_hierarchy = "signed_up_on"
    list_display = ["user_ref", "country", "signed_up_on"]
    list_filter = ["country"]
    search_fields = ["user_ref"]


@admin.register(WarehouseProduct)
class WarehouseProductAdmin(SystemRecordAdmin):
    list_display = ["sku", "name", "category", "price_cents", "cost_cents"]
    list_filter = ["category"]
    search_fields = ["sku", "name"]


@admin.register(WarehouseOrder)
class WarehouseOrderAdmin(SystemRecordAdmin):
    date_hierarchy = "ordered_on"
    list_display = [
        "order_ref",
        "ordered_on",
        "user_ref",
        "sku",
        "quantity",
        "amount_cents",
    ]
    search_fields = ["order_ref", "user_ref", "sku"]


@admin.register(DashboardSnapshot)
class DashboardSnapshotAdmin(SystemRecordAdmin):
    list_display = ["snapshot_id", "dashboard", "start_date", "end_date", "created_at"]
    list_filter = ["dashboard"]
    search_fields = ["snapshot_id", "idempotency_key", "task_id"]


@admin.register(UserAccount)
class UserAccountAdmin(SystemRecordAdmin):
    list_display = ["user_id", "email", "name", "plan", "status", "activated_at"]
    list_filter = ["plan", "status"]
    search_fields = ["user_id", "email", "name", "idempotency_key", "task_id"]


@admin.register(BillingProfile)
class BillingProfileAdmin(SystemRecordAdmin):
    list_display = ["account", "plan", "monthly_price_cents", "billing_required"]
    list_filter = ["plan", "billing_required"]
    list_select_related = ["account"]
    search_fields = ["account__user_id", "account__email", "idempotency_key"]


@admin.register(UserPreferences)
class UserPreferencesAdmin(SystemRecordAdmin):
    list_display = ["account", "created_at"]
    list_select_related = ["account"]
    search_fields = ["account__user_id", "account__email", "idempotency_key"]


@admin.register(Customer)
class CustomerAdmin(TeamVisibleMixin, admin.ModelAdmin):
    list_display = ["customer_id", "name", "email", "tier", "created_at"]
    list_filter = ["tier"]
    search_fields = ["customer_id", "name", "email"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Payment)
class PaymentAdmin(TeamVisibleMixin, admin.ModelAdmin):
    """Payments can be added; their amounts and refunds are then fixed."""

    list_display = [
        "payment_id",
        "customer",
        "amount_cents",
        "refunded_cents",
        "status",
        "settling_checks_remaining",
        "created_at",
    ]
    list_filter = ["status", "currency"]
    list_select_related = ["customer"]
    search_fields = ["payment_id", "customer__customer_id", "customer__email"]
    autocomplete_fields = ["customer"]
    readonly_fields = ["refunded_cents", "created_at", "updated_at"]
    # Refunded states are reached by refunding, never typed in.
    addable_statuses = (
        Payment.Status.SETTLING,
        Payment.Status.CAPTURED,
        Payment.Status.FAILED,
    )

    def formfield_for_choice_field(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "status":
            kwargs["choices"] = [
                (value, label)
                for value, label in Payment.Status.choices
                if value in self.addable_statuses
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Payment | None = None
    ) -> list[str]:
        if obj is None:
            return self.readonly_fields
        return [
            "payment_id",
            "customer",
            "amount_cents",
            "currency",
            "status",
            *self.readonly_fields,
        ]


@admin.register(SupportTicket)
class SupportTicketAdmin(TeamVisibleMixin, admin.ModelAdmin):
    """Tickets can be opened or closed here; resolving is the workflow's job."""

    list_display = [
        "ticket_id",
        "customer",
        "payment",
        "status",
        "subject",
        "refund_id",
        "resolved_at",
    ]
    list_filter = ["status"]
    list_select_related = ["customer", "payment"]
    search_fields = [
        "ticket_id",
        "subject",
        "customer__customer_id",
        "payment__payment_id",
        "refund_id",
    ]
    autocomplete_fields = ["customer", "payment"]
    readonly_fields = [
        "resolution_note",
        "refund_id",
        "resolved_by_task",
        "resolution_key",
        "resolved_at",
        "created_at",
        "updated_at",
    ]


@admin.register(GatewayRefund)
class GatewayRefundAdmin(SystemRecordAdmin):
    list_display = [
        "refund_id",
        "payment",
        "amount_cents",
        "currency",
        "reason",
        "task_id",
        "created_at",
    ]
    list_filter = ["reason", "currency"]
    list_select_related = ["payment"]
    search_fields = ["refund_id", "idempotency_key", "task_id", "payment__payment_id"]


@admin.register(PaymentRefund)
class PaymentRefundAdmin(SystemRecordAdmin):
    list_display = ["refund_id", "payment", "amount_cents", "reason", "created_at"]
    list_filter = ["reason"]
    list_select_related = ["payment"]
    search_fields = ["refund_id", "idempotency_key", "task_id", "payment__payment_id"]
