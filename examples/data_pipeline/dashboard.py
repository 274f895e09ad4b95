"""The simulated dashboard service: publishes one snapshot per idempotency key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from examples.models import DashboardSnapshot
from workflows.handlers import PermanentError


@dataclass(frozen=True)
class Publication:
    """The published snapshot and whether this call published it."""

    snapshot: DashboardSnapshot
    published_now: bool


def snapshot_publish(
    *,
    idempotency_key: str,
    dashboard: str,
    start: dt.date,
    end: dt.date,
    metrics: Mapping[str, Any],
    insights: Sequence[Mapping[str, Any]],
    task_id: str = "",
) -> Publication:
    """Publish the metrics of ``dashboard`` for a range, once per key.

    Raise :class:`PermanentError` when the key already published another
    dashboard or range.
    """
    snapshot, created = DashboardSnapshot.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "dashboard": dashboard,
            "start_date": start,
            "end_date": end,
            "metrics": dict(metrics),
            "insights": list(insights),
            "task_id": task_id,
        },
    )
    if not created and (snapshot.dashboard, snapshot.start_date, snapshot.end_date) != (
        dashboard,
        start,
        end,
    ):
        raise PermanentError(
            f"snapshot key {idempotency_key!r} already published {snapshot}",
            code="idempotency_conflict",
        )
    return Publication(snapshot=snapshot, published_now=created)
