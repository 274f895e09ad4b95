"""seed_examples: idempotent, and what the example contexts need."""

from __future__ import annotations

import pytest

from examples.models import InventoryItem, WarehouseOrder
from examples.seed import EXAMPLE_STOCK, seed_examples

pytestmark = pytest.mark.django_db


def test_seeding_twice_changes_nothing() -> None:
    """A second run finds every row and creates none."""
    first = seed_examples()
    refs = list(WarehouseOrder.objects.values_list("order_ref", "amount_cents"))
    second = seed_examples()
    assert first == second
    assert list(WarehouseOrder.objects.values_list("order_ref", "amount_cents")) == refs
    assert first["warehouse_orders"] == 382


def test_reseeding_keeps_stock_but_resets_the_sold_out_sku() -> None:
    """Demo orders are not undone; the out-of-stock demo SKU stays at zero."""
    seed_examples()
    InventoryItem.objects.filter(sku="WIDGET-001").update(stock=5)
    InventoryItem.objects.filter(sku="SOLDOUT-999").update(stock=7)
    seed_examples()
    assert InventoryItem.objects.get(sku="WIDGET-001").stock == 5
    assert InventoryItem.objects.get(sku="SOLDOUT-999").stock == 0
    assert InventoryItem.objects.get(sku="GADGET-002").stock == EXAMPLE_STOCK
