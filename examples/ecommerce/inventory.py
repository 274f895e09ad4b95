"""The simulated inventory service: catalogue prices and stock reservations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from examples.models import InventoryItem, StockReservation
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class Reservation:
    """The rows of one reservation and whether this call took the stock."""

    rows: list[StockReservation]
    reserved_now: bool

    def as_result(self) -> dict[str, Any]:
        """Return the JSON a step reports for this reservation."""
        return {
            "reservations": [
                {"sku": row.item.sku, "quantity": row.quantity} for row in self.rows
            ],
            "reserved_now": self.reserved_now,
        }


def cart_quantities(items: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Return the quantity per SKU of cart ``items``, merging repeated SKUs."""
    quantities: dict[str, int] = {}
    for item in items:
        quantities[item["sku"]] = quantities.get(item["sku"], 0) + int(item["quantity"])
    return quantities


def cart_price(
    *,
    quantities: Mapping[str, int],
    tax_rate_bps: int,
    shipping_cents: int,
    free_shipping_from_cents: int,
) -> dict[str, Any]:
    """Price a cart from the catalogue and check every line can be supplied.

    Raise :class:`PermanentError` naming the SKU that is unknown, no longer
    sold or short of stock, so the customer is never charged for a cart
    that cannot ship. Tax is rounded half up to the cent.
    """
    items = InventoryItem.objects.in_bulk(list(quantities), field_name="sku")
    lines: list[dict[str, Any]] = []
    for sku, quantity in quantities.items():
        item = items.get(sku)
        if item is None:
            raise PermanentError(
                f"SKU {sku!r} is not in the catalogue", code="unknown_sku"
            )
        if not item.active:
            raise PermanentError(f"SKU {sku!r} is no longer sold", code="sku_inactive")
        if item.stock < quantity:
            raise PermanentError(
                f"SKU {sku!r} has {item.stock} in stock, {quantity} requested",
                code="out_of_stock",
            )
        lines.append(
            {
                "sku": sku,
                "name": item.name,
                "quantity": quantity,
                "unit_price_cents": item.price_cents,
                "line_total_cents": item.price_cents * quantity,
            }
        )
    subtotal = sum(line["line_total_cents"] for line in lines)
    tax = (subtotal * tax_rate_bps + 5_000) // 10_000
    shipping = 0 if subtotal >= free_shipping_from_cents else shipping_cents
    return {
        "lines": lines,
        "item_count": sum(quantities.values()),
        "subtotal_cents": subtotal,
        "tax_cents": tax,
        "shipping_cents": shipping,
        "total_cents": subtotal + tax + shipping,
        "currency": "USD",
    }


def stock_reserve(
    *, idempotency_key: str, quantities: Mapping[str, int], task_id: str = ""
) -> Reservation:
    """Take ``quantities`` from stock once per ``idempotency_key``.

    All lines or none: the stock of every SKU is decremented by a
    conditional UPDATE in one transaction, and a line short of stock rolls
    back the others and raises :class:`PermanentError` (``out_of_stock``).
    A second call with the same key returns the first reservation.
    """
    existing = _reservation_rows(idempotency_key)
    if existing:
        return _replayed(existing, idempotency_key, quantities)
    try:
        with transaction.atomic():
            rows = _take_stock(idempotency_key, quantities, task_id)
    except IntegrityError:
        # A concurrent attempt with the same key reserved first.
        existing = _reservation_rows(idempotency_key)
        if not existing:
            raise
        return _replayed(existing, idempotency_key, quantities)
    return Reservation(rows=rows, reserved_now=True)


def _take_stock(
    idempotency_key: str, quantities: Mapping[str, int], task_id: str
) -> list[StockReservation]:
    # Lock in SKU order so two carts sharing SKUs cannot deadlock.
    items = {
        item.sku: item
        for item in InventoryItem.objects.select_for_update()
        .filter(sku__in=list(quantities))
        .order_by("sku")
    }
    rows = []
    for sku in sorted(quantities):
        quantity = quantities[sku]
        item = items.get(sku)
        if item is None:
            raise PermanentError(
                f"SKU {sku!r} is not in the catalogue", code="unknown_sku"
            )
        taken = InventoryItem.objects.filter(pk=item.pk, stock__gte=quantity).update(
            stock=F("stock") - quantity, updated_at=timezone.now()
        )
        if not taken:
            item.refresh_from_db(fields=["stock"])
            raise PermanentError(
                f"SKU {sku!r} has {item.stock} in stock, {quantity} requested",
                code="out_of_stock",
            )
        rows.append(
            StockReservation(
                idempotency_key=idempotency_key,
                item=item,
                quantity=quantity,
                task_id=task_id,
            )
        )
    StockReservation.objects.bulk_create(rows)
    return rows


def _reservation_rows(idempotency_key: str) -> list[StockReservation]:
    return list(
        StockReservation.objects.filter(idempotency_key=idempotency_key)
        .select_related("item")
        .order_by("item__sku")
    )


def _replayed(
    rows: list[StockReservation], idempotency_key: str, quantities: Mapping[str, int]
) -> Reservation:
    reserved = {row.item.sku: row.quantity for row in rows}
    if reserved != dict(quantities):
        raise PermanentError(
            f"reservation {idempotency_key!r} already holds {reserved}, "
            f"not {dict(quantities)}",
            code="idempotency_conflict",
        )
    return Reservation(rows=rows, reserved_now=False)
