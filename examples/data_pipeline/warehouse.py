"""The simulated data warehouse the analytics extracts read from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from examples.models import WarehouseOrder, WarehouseProduct, WarehouseUser
from workflows.handlers import PermanentError

# A report over more than this many days is refused: ask for several.
MAX_RANGE_DAYS = 366


def date_range(context: Mapping[str, Any]) -> tuple[dt.date, dt.date]:
    """Return the ``(start_date, end_date)`` of the context, both included.

    Raise :class:`PermanentError` when the range is backwards or too long;
    the schema checks the format, only code can compare the two dates.
    """
    try:
        start = dt.date.fromisoformat(context["start_date"])
        end = dt.date.fromisoformat(context["end_date"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(
            f"start_date and end_date must be ISO dates: {exc}", code="invalid_dates"
        ) from exc
    if end < start:
        raise PermanentError(
            f"end_date {end} is before start_date {start}", code="invalid_dates"
        )
    if (end - start).days >= MAX_RANGE_DAYS:
        raise PermanentError(
            f"range {start}…{end} is longer than {MAX_RANGE_DAYS} days",
            code="invalid_dates",
        )
    return start, end


def orders_extract(
    *, start: dt.date, end: dt.date, row_limit: int
) -> list[dict[str, Any]]:
    """Return the order lines placed from ``start`` to ``end`` included."""
    rows = WarehouseOrder.objects.filter(ordered_on__range=(start, end)).values(
        "order_ref", "user_ref", "sku", "quantity", "amount_cents", "ordered_on"
    )
    return [
        {**row, "ordered_on": row["ordered_on"].isoformat()}
        for row in _limited(rows, row_limit, "orders")
    ]


def users_extract(*, end: dt.date, row_limit: int) -> list[dict[str, Any]]:
    """Return the users who had signed up by ``end``."""
    rows = WarehouseUser.objects.filter(signed_up_on__lte=end).values(
        "user_ref", "country", "signed_up_on"
    )
    return [
        {**row, "signed_up_on": row["signed_up_on"].isoformat()}
        for row in _limited(rows, row_limit, "users")
    ]


def products_extract(*, row_limit: int) -> list[dict[str, Any]]:
    """Return the product catalogue with unit prices and costs."""
    rows = WarehouseProduct.objects.values(
        "sku", "name", "category", "price_cents", "cost_cents"
    )
    return list(_limited(rows, row_limit, "products"))


def _limited(rows: QuerySet, row_limit: int, table: str) -> list[dict[str, Any]]:
    """Return the rows, refusing more than ``row_limit`` of them.

    Step results travel through the database; an unbounded extract would
    bloat every downstream step, so a too-wide query fails loudly instead.
    """
    fetched = list(rows[: row_limit + 1])
    if len(fetched) > row_limit:
        raise PermanentError(
            f"extract of {table} returned more than {row_limit} rows; narrow the "
            "date range or raise the step's row_limit",
            code="extract_too_large",
        )
    return fetched
