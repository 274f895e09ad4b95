"""Admin of the simulated external systems: what each system did, read-mostly.

Rows written by a system (charges, reservations, orders, e-mails,
snapshots, accounts, refunds) are view-only: changing them by hand would
make the admin lie about what the workflows did. The catalogue stays
editable so an operator can restock or retire a SKU for a demo, and
customers, tickets and payments can be added for a refund demo (or in bulk
with ``manage.py create_demo_records``); a payment's refunds and a
ticket's resolution are only ever written by the workflows.

Each system belongs to the team whose workflows use it (:attr:`team`; the
shared mailer's rows belong to the team of the message's template).
Superusers see everything; other staff see a system's rows only while they
hold a role in its team's namespace, and its personal columns (names,
addresses, free text about a person) masked unless they also hold
``pii_viewer`` there. Searching those columns is for who may read them: a
match would reveal what the mask hides.

Personal columns are encrypted at rest (:mod:`audit.fields`): a search
cannot look inside them. An e-mail is found by its blind index
(:attr:`TeamSystemAdmin.blind_search_fields`, the whole address, any case),
for who may read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import admin
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from audit.fields import PIIQuerySet, blind_lookup
from audit.pii import Redactor, mask_value, pii_values
from examples.gdpr import gdpr_export_action
from examples.microservices.handlers import WELCOME_SEQUENCES
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
from namespaces.roles import Action
from namespaces.scoping import namespace_slugs
from tasker_project.admin_kit.redaction import current_admin_request
from tasker_project.admin_kit.scoped import ScopedAdminMixin

# The shared mailer: template → the team whose workflow sends it.
MAILER_TEMPLATE_TEAMS: dict[str, str] = {
    "order_confirmation": "ecommerce",
    "refund_processed": "payments",
    "refund_ticket_resolved": "customer_success",
    "analytics_report": "data_pipeline",
    **{
        template: "microservices"
        for sequence in WELCOME_SEQUENCES.values()
        for template in sequence
    },
}
# Prefix of the display methods that stand in for a personal column.
PERSONAL = "personal_"


def _personal_display(field: str) -> Callable[[Any, Model], Any]:
    """Return the display method that shows ``field`` to the current viewer."""

    def display(model_admin: TeamSystemAdmin, obj: Model) -> Any:
        return model_admin.shown(current_admin_request(), obj, field)

    display.__name__ = f"{PERSONAL}{field}"
    return display


class TeamSystemAdmin(ScopedAdminMixin, admin.ModelAdmin):
    """Scope a simulated system to its team and mask its personal columns.

    Rows belong to a team by the team's slug (:meth:`row_team`), not by a
    namespace foreign key, so the scoping hooks compare slugs.

    :attr:`pii_fields` are masked whole; :attr:`text_fields` are free text,
    scrubbed of e-mail addresses and of the row's personal values (its own
    :attr:`pii_fields` and those of :attr:`related_pii` paths).
    """

    team = ""
    # Personal columns are searched by who may read them (get_search_fields).
    private_search_fields = frozenset()
    pii_fields: tuple[str, ...] = ()
    text_fields: tuple[str, ...] = ()
    related_pii: tuple[str, ...] = ()
    # Encrypted e-mails (or paths to them) a search term is matched against,
    # whole, by blind index; only for who may read them.
    blind_search_fields: tuple[str, ...] = ()
    # Related rows whose personal values a page reads (related_pii): their
    # keys are read with the page's, in one query (PIIQuerySet.with_keys).
    key_related: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for field in (*cls.pii_fields, *cls.text_fields):
            display = _personal_display(field)
            label = field.replace("_", " ")
            setattr(cls, display.__name__, admin.display(description=label)(display))

    # ---- whose rows, and who sees them in clear ---------------------------

    def teams(self) -> frozenset[str]:
        """Return the teams whose rows this admin lists."""
        return frozenset({self.team})

    def row_team(self, obj: Model) -> str:
        """Return the team that owns ``obj``."""
        return self.team

    def scope_rows(self, queryset: QuerySet, teams: frozenset[str]) -> QuerySet:
        """Return the rows of ``queryset`` owned by one of ``teams``."""
        return queryset if self.team in teams else queryset.none()

    def reveals(self, request: HttpRequest | None, obj: Model | None = None) -> bool:
        """Return whether the user sees personal data of ``obj`` (or of every row)."""
        if request is None:
            return False
        if request.user.is_superuser:
            return request.user.is_active
        allowed = namespace_slugs(request, Action.VIEW_PII)
        if obj is None:
            return self.teams() <= allowed
        return self.row_team(obj) in allowed

    def shown(self, request: HttpRequest | None, obj: Model, field: str) -> Any:
        """Return ``obj.field`` as the user may see it."""
        value = getattr(obj, field)
        if self.reveals(request, obj):
            return value
        if field in self.pii_fields:
            return mask_value(value)
        return Redactor(values=self.row_values(obj)).text(value)

    def row_values(self, obj: Model) -> frozenset[str]:
        """Return the personal values of ``obj``, to scrub its free text with."""
        values: dict[str, Any] = {}
        for path in (*self.pii_fields, *self.related_pii):
            value: Any = obj
            for part in path.split("__"):
                value = getattr(value, part, None)
            values[path] = value
        return pii_values([values], frozenset(values))

    def _personal(self) -> frozenset[str]:
        return frozenset((*self.pii_fields, *self.text_fields))

    def _masked(self, names: Any) -> list[Any]:
        personal = self._personal()
        return [f"{PERSONAL}{n}" if n in personal else n for n in names]

    # ---- querysets and permissions -----------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if isinstance(queryset, PIIQuerySet):
            return queryset.with_keys(*self.key_related)
        return queryset

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if request.user.is_superuser:
            return queryset
        return self.scope_rows(
            queryset, self.teams() & namespace_slugs(request, Action.VIEW)
        )

    def sees_any(self, request: HttpRequest) -> bool:
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and bool(self.teams() & namespace_slugs(request, Action.VIEW))
        )

    def sees(self, request: HttpRequest, obj: Model) -> bool:
        return self.sees_any(request) and self.row_team(obj) in namespace_slugs(
            request, Action.VIEW
        )

    # ---- masked columns and fields -----------------------------------------

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = super().get_list_display(request)
        return columns if self.reveals(request) else self._masked(columns)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = super().get_exclude(request, obj)
        if self.reveals(request, obj):
            return exclude
        return [*(exclude or ()), *self._personal()]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = super().get_readonly_fields(request, obj)
        if self.reveals(request, obj):
            return readonly
        masked = self._masked(readonly)
        extra = [f"{PERSONAL}{n}" for n in sorted(self._personal())]
        return [*masked, *(name for name in extra if name not in masked)]

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = super().get_search_fields(request)
        if self.reveals(request):
            return fields
        private = self._personal() | frozenset(self.related_pii)
        return [f for f in fields if f.lstrip("=^@") not in private]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term or not self.blind_search_fields or not self.reveals(request):
            return found, duplicates
        matches = Q()
        for path in self.blind_search_fields:
            matches |= blind_lookup(self.model, path, term)
        return found | queryset.filter(matches), duplicates


class SystemRecordAdmin(TeamSystemAdmin):
    """View-only admin for rows an external system wrote."""

    date_hierarchy = "created_at"
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(InventoryItem)
class InventoryItemAdmin(TeamSystemAdmin):
    team = "ecommerce"
    list_display = ["sku", "name", "price_cents", "stock", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["sku", "name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StockReservation)
class StockReservationAdmin(SystemRecordAdmin):
    team = "ecommerce"
    list_display = ["idempotency_key", "item", "quantity", "task_id", "created_at"]
    list_select_related = ["item"]
    search_fields = ["idempotency_key", "task_id", "item__sku"]


@admin.register(GatewayCharge)
class GatewayChargeAdmin(SystemRecordAdmin):
    team = "ecommerce"
    text_fields = ("description",)
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
    team = "ecommerce"
    pii_fields = ("customer_email",)
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
    search_fields = ["order_number", "idempotency_key", "task_id"]
    blind_search_fields = ("customer_email",)


@admin.register(SentEmail)
class SentEmailAdmin(SystemRecordAdmin):
    """The shared mailer: each message belongs to the team of its template.

    Subject and body are addressed to a person (a welcome names them), so
    they are masked whole, like the address.
    """

    pii_fields = ("to", "subject", "body")
    list_display = ["message_id", "to", "template", "subject", "task_id", "created_at"]
    list_filter = ["template"]
    search_fields = ["message_id", "idempotency_key", "task_id"]
    blind_search_fields = ("to",)

    def teams(self) -> frozenset[str]:
        return frozenset(MAILER_TEMPLATE_TEAMS.values())

    def row_team(self, obj: Model) -> str:
        # This admin's rows are SentEmails (the base hook takes any Model).
        return MAILER_TEMPLATE_TEAMS.get(cast(SentEmail, obj).template, "")

    def scope_rows(self, queryset: QuerySet, teams: frozenset[str]) -> QuerySet:
        templates = [t for t, team in MAILER_TEMPLATE_TEAMS.items() if team in teams]
        return queryset.filter(template__in=templates)


@admin.register(WarehouseUser)
class WarehouseUserAdmin(SystemRecordAdmin):
    team = "data_pipeline"
    date_hierarchy = "signed_up_on"
    list_display = ["user_ref", "country", "signed_up_on"]
    list_filter = ["country"]
    search_fields = ["user_ref"]


@admin.register(WarehouseProduct)
class WarehouseProductAdmin(SystemRecordAdmin):
    team = "data_pipeline"
    list_display = ["sku", "name", "category", "price_cents", "cost_cents"]
    list_filter = ["category"]
    search_fields = ["sku", "name"]


@admin.register(WarehouseOrder)
class WarehouseOrderAdmin(SystemRecordAdmin):
    team = "data_pipeline"
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
    team = "data_pipeline"
    list_display = ["snapshot_id", "dashboard", "start_date", "end_date", "created_at"]
    list_filter = ["dashboard"]
    search_fields = ["snapshot_id", "idempotency_key", "task_id"]


@admin.register(UserAccount)
class UserAccountAdmin(SystemRecordAdmin):
    team = "microservices"
    pii_fields = ("email", "name")
    list_display = ["user_id", "email", "name", "plan", "status", "activated_at"]
    list_filter = ["plan", "status"]
    search_fields = ["user_id", "idempotency_key", "task_id"]
    blind_search_fields = ("email",)


@admin.register(BillingProfile)
class BillingProfileAdmin(SystemRecordAdmin):
    team = "microservices"
    related_pii = ("account__email",)
    list_display = ["account", "plan", "monthly_price_cents", "billing_required"]
    list_filter = ["plan", "billing_required"]
    list_select_related = ["account"]
    search_fields = ["account__user_id", "idempotency_key"]
    blind_search_fields = ("account__email",)


@admin.register(UserPreferences)
class UserPreferencesAdmin(SystemRecordAdmin):
    team = "microservices"
    related_pii = ("account__email",)
    list_display = ["account", "created_at"]
    list_select_related = ["account"]
    search_fields = ["account__user_id", "idempotency_key"]
    blind_search_fields = ("account__email",)


@admin.register(Customer)
class CustomerAdmin(TeamSystemAdmin):
    """The CRM, kept by customer success."""

    team = "customer_success"
    pii_fields = ("name", "email")
    list_display = ["customer_id", "name", "email", "tier", "created_at"]
    list_filter = ["tier"]
    search_fields = ["customer_id"]
    blind_search_fields = ("email",)
    readonly_fields = ["created_at", "updated_at"]
    actions = [gdpr_export_action]


@admin.register(Payment)
class PaymentAdmin(TeamSystemAdmin):
    """Payments can be added; their amounts and refunds are then fixed."""

    team = "payments"
    text_fields = ("description",)
    related_pii = ("customer__name", "customer__email")
    key_related = ("customer",)

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
    search_fields = ["payment_id", "customer__customer_id"]
    blind_search_fields = ("customer__email",)
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
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return readonly
        return [
            "payment_id",
            "customer",
            "amount_cents",
            "currency",
            "status",
            *readonly,
        ]


@admin.register(SupportTicket)
class SupportTicketAdmin(TeamSystemAdmin):
    """Tickets can be opened or closed here; resolving is the workflow's job."""

    team = "customer_success"
    text_fields = ("subject", "resolution_note")
    related_pii = ("customer__name", "customer__email")
    key_related = ("customer",)

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
    blind_search_fields = ("customer__email",)
    search_fields = [
        "ticket_id",
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
    team = "payments"
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
    team = "payments"
    list_display = ["refund_id", "payment", "amount_cents", "reason", "created_at"]
    list_filter = ["reason"]
    list_select_related = ["payment"]
    search_fields = ["refund_id", "idempotency_key", "task_id", "payment__payment_id"]
