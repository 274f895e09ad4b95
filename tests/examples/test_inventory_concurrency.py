"""Two orders racing for the last unit: exactly one gets it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from examples.ecommerce.inventory import stock_reserve
from examples.models import InventoryItem, StockReservation
from examples.seed import seed_examples
from workflows.handlers import PermanentError

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_last_unit_is_reserved_once_under_concurrency() -> None:
    """Stock never goes negative: one racer reserves, the other is out of stock."""
    seed_examples()
    InventoryItem.objects.filter(sku="GIZMO-003").update(stock=1)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def reserve(key: str) -> None:
        try:
            barrier.wait()
            stock_reserve(idempotency_key=key, quantities={"GIZMO-003": 1})
            outcomes.append("reserved")
        except PermanentError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=reserve, args=(f"k{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["out_of_stock", "reserved"]
    assert InventoryItem.objects.get(sku="GIZMO-003").stock == 0
    assert StockReservation.objects.count() == 1
