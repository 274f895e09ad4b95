"""Seed the simulated external systems with the data the examples need.

Run by ``manage.py seed_demo``; safe to run again. The example contexts
rely on it: the SKUs of ``ecommerce.process_order``, the January 2025
warehouse rows of ``data_pipeline.customer_analytics``, and the customers,
tickets and payments of both ``process_refund`` workflows
(:mod:`examples.refund_records`).
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from examples.models import (
    Customer,
    InventoryItem,
    Payment,
    SupportTicket,
    WarehouseOrder,
    WarehouseProduct,
    WarehouseUser,
)
from examples.refund_records import seed_refund_records

# Enough stock for a long demo or benchmark; re-seeding leaves stock alone.
EXAMPLE_STOCK = 1_000_000
CATALOGUE = [
    ("WIDGET-001", "Widget", 1_999),
    ("GADGET-002", "Gadget", 4_999),
    ("GIZMO-003", "Gizmo", 1_250),
    ("DOOHICKEY-004", "Doohickey", 899),
    ("SPROCKET-005", "Sprocket", 325),
]
# Always out of stock, for the out-of-stock demo.
SOLD_OUT_SKU = ("SOLDOUT-999", "Sold-out collector's edition", 9_999)

# The warehouse: users signed up from ANALYTICS_SIGNUPS_FROM; orders in
# December 2024, January 2025 (the example range) and February 2025.
ANALYTICS_RANGE = (dt.date(2025, 1, 1), dt.date(2025, 1, 31))
ANALYTICS_SIGNUPS_FROM = dt.date(2024, 6, 1)
USER_COUNT = 80
PRODUCT_COUNT = 24
# Products numbered above this never sell, for the "sold nothing" finding.
SELLING_PRODUCTS = 21
ORDERS_PER_MONTH = {(2024, 12): 40, (2025, 1): 300, (2025, 2): 40}
# Orders of a user the warehouse lacks, for the data-quality finding.
ORPHAN_USER_REF = "usr_9999"
ORPHAN_ORDERS_IN_RANGE = 2
COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "NL")
CATEGORIES = ("books", "electronics", "garden", "kitchen", "toys", "apparel")


def seed_examples() -> dict[str, int]:
    """Create or update every seed row; return how many rows each table holds.

    Idempotent: the warehouse is generated from a fixed random seed and
    upserted by its natural keys, the catalogue by SKU. Stock is only set
    when a SKU is created, so re-seeding does not undo demo orders; the
    sold-out SKU is reset to 0 every time. The refund customers, tickets
    and payments are only created when missing, so re-seeding leaves refunds
    made, tickets resolved and ``pay_1004``'s settling counter as they are.
    """
    with transaction.atomic():
        _seed_catalogue()
        _seed_warehouse()
        seed_refund_records()
    return {
        "inventory_items": InventoryItem.objects.count(),
        "warehouse_users": WarehouseUser.objects.count(),
        "warehouse_products": WarehouseProduct.objects.count(),
        "warehouse_orders": WarehouseOrder.objects.count(),
        "customers": Customer.objects.count(),
        "support_tickets": SupportTicket.objects.count(),
        "payments": Payment.objects.count(),
    }


def _seed_catalogue() -> None:
    for sku, name, price in CATALOGUE:
        InventoryItem.objects.update_or_create(
            sku=sku,
            defaults={"name": name, "price_cents": price, "active": True},
            create_defaults={
                "name": name,
                "price_cents": price,
                "active": True,
                "stock": EXAMPLE_STOCK,
            },
        )
    sku, name, price = SOLD_OUT_SKU
    InventoryItem.objects.update_or_create(
        sku=sku,
        defaults={"name": name, "price_cents": price, "active": True, "stock": 0},
    )


def _seed_warehouse() -> None:
    # Deterministic demo data, not security: a fixed seed keeps it stable.
    rng = random.Random(20250101)  # noqa: S311
    signup_days = (ANALYTICS_RANGE[1] - ANALYTICS_SIGNUPS_FROM).days
    users = [
        WarehouseUser(
            user_ref=f"usr_{n:04d}",
            country=rng.choice(COUNTRIES),
            signed_up_on=ANALYTICS_SIGNUPS_FROM
            + dt.timedelta(days=rng.randrange(signup_days + 1)),
        )
        for n in range(1, USER_COUNT + 1)
    ]
    products = []
    for n in range(1, PRODUCT_COUNT + 1):
        price = rng.randrange(500, 20_000, 25)
        products.append(
            WarehouseProduct(
                sku=f"P-{n:03d}",
                name=f"Product {n:03d}",
                category=CATEGORIES[n % len(CATEGORIES)],
                price_cents=price,
                cost_cents=price * rng.randrange(35, 75) // 100,
            )
        )
    orders = _generate_orders(rng, users, products[:SELLING_PRODUCTS])
    WarehouseUser.objects.bulk_create(
        users,
        update_conflicts=True,
        unique_fields=["user_ref"],
        update_fields=["country", "signed_up_on"],
    )
    WarehouseProduct.objects.bulk_create(
        products,
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["name", "category", "price_cents", "cost_cents"],
    )
    WarehouseOrder.objects.bulk_create(
        orders,
        update_conflicts=True,
        unique_fields=["order_ref"],
        update_fields=["user_ref", "sku", "quantity", "amount_cents", "ordered_on"],
        batch_size=500,
    )


def _generate_orders(
    rng: random.Random,
    users: list[WarehouseUser],
    products: list[WarehouseProduct],
) -> list[WarehouseOrder]:
    orders: list[WarehouseOrder] = []
    for (year, month), count in ORDERS_PER_MONTH.items():
        first = dt.date(year, month, 1)
        days = (dt.date(year + month // 12, month % 12 + 1, 1) - first).days
        for _ in range(count):
            ordered_on = first + dt.timedelta(days=rng.randrange(days))
            buyers = [u for u in users if u.signed_up_on <= ordered_on] or users
            product = rng.choice(products)
            quantity = rng.choice((1, 1, 1, 2, 2, 3))
            orders.append(
                _order(
                    len(orders) + 1,
                    rng.choice(buyers).user_ref,
                    product,
                    quantity,
                    ordered_on,
                )
            )
    for day in range(ORPHAN_ORDERS_IN_RANGE):
        orders.append(
            _order(
                len(orders) + 1,
                ORPHAN_USER_REF,
                products[0],
                1,
                ANALYTICS_RANGE[0] + dt.timedelta(days=10 + day),
            )
        )
    return orders


def _order(
    number: int,
    user_ref: str,
    product: WarehouseProduct,
    quantity: int,
    ordered_on: dt.date,
) -> WarehouseOrder:
    return WarehouseOrder(
        order_ref=f"whord_{number:05d}",
        user_ref=user_ref,
        sku=product.sku,
        quantity=quantity,
        amount_cents=product.price_cents * quantity,
        ordered_on=ordered_on,
    )
