"""data_pipeline.customer_analytics handlers on the seeded warehouse."""

from __future__ import annotations

import copy

import pytest
from django.db.models import Count, Sum

from examples.data_pipeline import metrics
from examples.models import DashboardSnapshot, SentEmail, WarehouseOrder
from examples.seed import ORDERS_PER_MONTH, ORPHAN_ORDERS_IN_RANGE
from tests.examples.helpers import definition, run_step, run_workflow
from workflows.handlers import PermanentError

WORKFLOW = "data_pipeline.customer_analytics"
pytestmark = pytest.mark.django_db


def example(**changes) -> dict:
    context = copy.deepcopy(definition(WORKFLOW)["example_context"])
    context.update(changes)
    return context


def january_orders():
    return WarehouseOrder.objects.filter(ordered_on__range=("2025-01-01", "2025-01-31"))


def test_the_example_report_runs_end_to_end(seeded) -> None:
    """The example context publishes one snapshot and e-mails each recipient."""
    results = run_workflow(WORKFLOW, example(), task_id="t-report")
    snapshot = DashboardSnapshot.objects.get()
    assert snapshot.snapshot_id == results["update_dashboard"]["snapshot_id"]
    assert (
        snapshot.metrics["revenue_cents"]
        == results["generate_insights"]["metrics"]["revenue_cents"]
    )
    assert sorted(SentEmail.objects.values_list("to", flat=True)) == [
        "analytics-team@example.com",
        "cfo@example.com",
    ]
    assert results["send_notifications"]["sent_now"] == 2


def test_extract_orders_reads_only_the_date_range(seeded) -> None:
    """Orders of December and February stay out of a January report."""
    result = run_step(WORKFLOW, "extract_orders", example(), {})
    assert result["count"] == ORDERS_PER_MONTH[(2025, 1)] + ORPHAN_ORDERS_IN_RANGE
    assert result["count"] == january_orders().count()
    assert all(row["ordered_on"].startswith("2025-01-") for row in result["orders"])


def test_a_backwards_range_fails_permanently(seeded) -> None:
    """end_date before start_date is refused, naming both dates."""
    context = example(start_date="2025-02-01", end_date="2025-01-01")
    with pytest.raises(PermanentError) as raised:
        run_step(WORKFLOW, "extract_orders", context, {})
    assert raised.value.code == "invalid_dates"
    assert "2025-01-01" in raised.value.message


def test_an_extract_over_its_row_limit_fails_permanently(seeded) -> None:
    """A too-wide extract fails loudly instead of bloating every later step."""
    with pytest.raises(PermanentError) as raised:
        run_step(
            WORKFLOW, "extract_orders", example(), {}, handler_config={"row_limit": 10}
        )
    assert raised.value.code == "extract_too_large"


def test_customer_metrics_on_hand_built_rows() -> None:
    """Spend, repeat rate, new sign-ups, orphans and averages are exact."""
    users = [
        {"user_ref": "u1", "country": "US", "signed_up_on": "2024-12-01"},
        {"user_ref": "u2", "country": "GB", "signed_up_on": "2025-01-05"},
        {"user_ref": "u3", "country": "US", "signed_up_on": "2025-01-20"},
    ]
    orders = [
        {"user_ref": "u1", "sku": "A", "quantity": 1, "amount_cents": 1_000},
        {"user_ref": "u1", "sku": "A", "quantity": 2, "amount_cents": 2_000},
        {"user_ref": "u2", "sku": "B", "quantity": 1, "amount_cents": 501},
        {"user_ref": "ghost", "sku": "B", "quantity": 1, "amount_cents": 999},
    ]
    result = metrics.customer_metrics(
        orders=orders, users=users, start="2025-01-01", end="2025-01-31"
    )
    assert result["users_total"] == 3
    assert result["new_customers"] == 2
    assert result["active_customers"] == 2
    assert result["repeat_customers"] == 1
    assert result["repeat_rate_pct"] == 50.0
    assert result["orders"] == 3
    assert result["revenue_cents"] == 3_501
    assert result["average_order_value_cents"] == 1_167  # 1167.0 → 1167
    assert result["revenue_by_country"] == {"GB": 501, "US": 3_000}
    assert result["top_customers"][0] == {
        "user_ref": "u1",
        "orders": 2,
        "spent_cents": 3_000,
    }
    assert result["orphan_orders"] == 1


def test_product_metrics_on_hand_built_rows() -> None:
    """Units, revenue, margin, categories and unsold products are exact."""
    products = [
        {"sku": "A", "name": "A", "category": "toys", "price_cents": 1_000,
         "cost_cents": 600},
        {"sku": "B", "name": "B", "category": "books", "price_cents": 500,
         "cost_cents": 100},
        {"sku": "C", "name": "C", "category": "books", "price_cents": 100,
         "cost_cents": 50},
    ]  # fmt: skip
    orders = [
        {"user_ref": "u1", "sku": "A", "quantity": 3, "amount_cents": 3_000},
        {"user_ref": "u2", "sku": "B", "quantity": 2, "amount_cents": 1_000},
        {"user_ref": "u2", "sku": "Z", "quantity": 1, "amount_cents": 50},
    ]
    result = metrics.product_metrics(orders=orders, products=products)
    assert result["units_sold"] == 5
    assert result["revenue_cents"] == 4_000
    assert result["gross_margin_cents"] == (3_000 - 1_800) + (1_000 - 200)
    assert result["gross_margin_pct"] == 50.0
    assert result["revenue_by_category"] == {"books": 1_000, "toys": 3_000}
    assert [p["sku"] for p in result["top_products"]] == ["A", "B"]
    assert result["products_without_sales"] == 1
    assert result["unknown_sku_orders"] == 1


def test_half_cents_round_up() -> None:
    """Averages round half up, never to even."""
    assert metrics.divide_half_up(5, 2) == 3
    assert metrics.divide_half_up(7, 2) == 4
    assert metrics.divide_half_up(4, 3) == 1
    assert metrics.divide_half_up(1, 0) == 0


def test_transforms_agree_with_the_database_on_seeded_rows(seeded) -> None:
    """The transforms' totals equal SQL aggregates over the same range."""
    results = run_workflow(WORKFLOW, example())
    customers = results["transform_customer_metrics"]
    products = results["transform_product_metrics"]
    known = january_orders().exclude(user_ref="usr_9999")
    assert customers["revenue_cents"] == known.aggregate(s=Sum("amount_cents"))["s"]
    assert customers["orders"] == known.count()
    assert customers["orphan_orders"] == ORPHAN_ORDERS_IN_RANGE
    assert customers["active_customers"] == known.values("user_ref").distinct().count()
    repeaters = known.values("user_ref").annotate(n=Count("id")).filter(n__gt=1).count()
    assert customers["repeat_customers"] == repeaters
    everything = january_orders().aggregate(s=Sum("amount_cents"), u=Sum("quantity"))
    assert products["revenue_cents"] == everything["s"]
    assert products["units_sold"] == everything["u"]
    assert products["products_without_sales"] >= 3
    kinds = {item["kind"] for item in results["generate_insights"]["insights"]}
    assert {"revenue", "retention", "growth", "category", "data_quality"} <= kinds


def test_dashboard_and_notifications_happen_once_per_key(seeded) -> None:
    """Retried update_dashboard and send_notifications do not repeat themselves."""
    context = example()
    results = run_workflow(WORKFLOW, context, task_id="t-once")
    again = run_step(
        WORKFLOW, "update_dashboard", context, results, attempt=2, task_id="t-once"
    )
    assert again["published_now"] is False
    assert again["snapshot_id"] == results["update_dashboard"]["snapshot_id"]
    resent = run_step(
        WORKFLOW, "send_notifications", context, results, attempt=2, task_id="t-once"
    )
    assert resent["sent_now"] == 0
    assert DashboardSnapshot.objects.count() == 1
    assert SentEmail.objects.count() == 2


def test_recipients_default_to_the_team_list(seeded) -> None:
    """Without recipients in the context, the step's configured list is used."""
    context = example()
    del context["recipients"]
    run_workflow(WORKFLOW, context)
    assert list(SentEmail.objects.values_list("to", flat=True)) == [
        "analytics-team@example.com"
    ]
