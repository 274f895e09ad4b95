"""The analytics transforms: plain functions over extracted rows.

Money is integer cents throughout; averages round half up to the cent and
percentages are rounded to one decimal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]
TOP_N = 5


def divide_half_up(numerator: int, denominator: int) -> int:
    """Return ``numerator / denominator`` rounded half up, 0 for no denominator."""
    if denominator == 0:
        return 0
    return (2 * numerator + denominator) // (2 * denominator)


def percent(part: int, whole: int) -> float:
    """Return ``part`` as a percentage of ``whole``, one decimal, 0.0 for none."""
    if whole == 0:
        return 0.0
    return round(100 * part / whole, 1)


def customer_metrics(
    *, orders: Sequence[Row], users: Sequence[Row], start: str, end: str
) -> dict[str, Any]:
    """Summarise customers: activity, new sign-ups, repeat rate, top spenders.

    Orders by users missing from ``users`` are counted as ``orphan_orders``
    (a data-quality finding) and left out of the per-customer figures.
    """
    country = {user["user_ref"]: user["country"] for user in users}
    spent: dict[str, int] = defaultdict(int)
    order_count: Counter[str] = Counter()
    by_country: dict[str, int] = defaultdict(int)
    orphans = 0
    for order in orders:
        ref = order["user_ref"]
        if ref not in country:
            orphans += 1
            continue
        spent[ref] += order["amount_cents"]
        order_count[ref] += 1
        by_country[country[ref]] += order["amount_cents"]
    revenue = sum(spent.values())
    known_orders = sum(order_count.values())
    repeat = sum(1 for count in order_count.values() if count > 1)
    top = sorted(spent, key=lambda ref: (-spent[ref], ref))[:TOP_N]
    return {
        "users_total": len(users),
        "new_customers": sum(1 for u in users if start <= u["signed_up_on"] <= end),
        "active_customers": len(order_count),
        "repeat_customers": repeat,
        "repeat_rate_pct": percent(repeat, len(order_count)),
        "orders": known_orders,
        "revenue_cents": revenue,
        "average_order_value_cents": divide_half_up(revenue, known_orders),
        "revenue_by_country": dict(sorted(by_country.items())),
        "top_customers": [
            {"user_ref": ref, "orders": order_count[ref], "spent_cents": spent[ref]}
            for ref in top
        ],
        "orphan_orders": orphans,
    }


def product_metrics(
    *, orders: Sequence[Row], products: Sequence[Row]
) -> dict[str, Any]:
    """Summarise products: units, revenue, gross margin, categories, top sellers.

    Orders of SKUs missing from ``products`` are counted as
    ``unknown_sku_orders`` and left out of the per-product figures.
    """
    catalogue = {product["sku"]: product for product in products}
    units: Counter[str] = Counter()
    revenue: dict[str, int] = defaultdict(int)
    margin = 0
    by_category: dict[str, int] = defaultdict(int)
    unknown = 0
    for order in orders:
        product = catalogue.get(order["sku"])
        if product is None:
            unknown += 1
            continue
        units[order["sku"]] += order["quantity"]
        revenue[order["sku"]] += order["amount_cents"]
        margin += order["amount_cents"] - product["cost_cents"] * order["quantity"]
        by_category[product["category"]] += order["amount_cents"]
    total = sum(revenue.values())
    top = sorted(revenue, key=lambda sku: (-revenue[sku], sku))[:TOP_N]
    return {
        "products_total": len(products),
        "products_sold": len(units),
        "products_without_sales": len(products) - len(units),
        "units_sold": sum(units.values()),
        "revenue_cents": total,
        "gross_margin_cents": margin,
        "gross_margin_pct": percent(margin, total),
        "revenue_by_category": dict(sorted(by_category.items())),
        "top_products": [
            {
                "sku": sku,
                "name": catalogue[sku]["name"],
                "units": units[sku],
                "revenue_cents": revenue[sku],
            }
            for sku in top
        ],
        "unknown_sku_orders": unknown,
    }


def insights(*, customers: Row, products: Row) -> dict[str, Any]:
    """Return the dashboard's headline metrics and the findings worth reading."""
    categories = products["revenue_by_category"]
    top_category = max(categories, key=lambda c: (categories[c], c), default=None)
    metrics = {
        "revenue_cents": customers["revenue_cents"],
        "orders": customers["orders"],
        "average_order_value_cents": customers["average_order_value_cents"],
        "active_customers": customers["active_customers"],
        "new_customers": customers["new_customers"],
        "repeat_rate_pct": customers["repeat_rate_pct"],
        "units_sold": products["units_sold"],
        "gross_margin_cents": products["gross_margin_cents"],
        "gross_margin_pct": products["gross_margin_pct"],
        "top_category": top_category,
    }
    found = [
        _insight(
            "revenue",
            f"Revenue {_money(customers['revenue_cents'])} from "
            f"{customers['orders']} orders "
            f"(average {_money(customers['average_order_value_cents'])}).",
        ),
        _insight(
            "retention",
            f"{customers['repeat_rate_pct']}% of {customers['active_customers']} "
            "active customers ordered more than once.",
        ),
        _insight("growth", f"{customers['new_customers']} new customers signed up."),
    ]
    if top_category is not None:
        share = percent(categories[top_category], products["revenue_cents"])
        found.append(
            _insight(
                "category", f"Category {top_category} brought {share}% of revenue."
            )
        )
    if products["products_without_sales"]:
        found.append(
            _insight(
                "catalogue",
                f"{products['products_without_sales']} products sold nothing.",
            )
        )
    if customers["orphan_orders"] or products["unknown_sku_orders"]:
        found.append(
            _insight(
                "data_quality",
                f"{customers['orphan_orders']} orders reference unknown users and "
                f"{products['unknown_sku_orders']} unknown products.",
            )
        )
    return {"metrics": metrics, "insights": found}


def _insight(kind: str, message: str) -> Row:
    return {"kind": kind, "message": message}


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"
