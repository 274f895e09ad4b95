"""Export the audit trail as CSV or JSON; every export is itself audited.

One use case, :func:`audit_export`, serves the admin action and the API:
it reads the events the user may export (:mod:`audit.selectors`), renders
them with personal data masked unless the user is ``pii_viewer`` in the
event's namespace (superusers see all), and appends an ``audit.exported``
event naming the filters and the row count. CSV cells that a spreadsheet
would run as a formula are neutralised.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditEvent
from audit.pii import REVEAL, Redactor
from audit.selectors import audit_export_list
from audit.trail import audit_record
from namespaces.permissions import namespace_ids_for
from namespaces.roles import Action
from tasker_project.core.actors import Actor

FORMATS = ("csv", "json")
COLUMNS = (
    "id",
    "created_at",
    "actor",
    "initiator",
    "action",
    "namespace",
    "object_type",
    "object_id",
    "reason",
    "metadata",
    "correlation_id",
    "remote_addr",
    "chain",
    "seq",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP
# "CSV injection"); tab and carriage return can smuggle one in, too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


@dataclass(frozen=True)
class Export:
    """A rendered export: the document, its media type and how many rows."""

    content: str
    content_type: str
    rows: int
    filename: str


def audit_export(
    *,
    user: Any,
    fmt: str,
    filters: dict[str, Any],
    events: QuerySet[AuditEvent] | None = None,
    query: str = "",
) -> Export:
    """Render the events ``user`` may export, filtered, and audit the export.

    ``filters`` are :func:`~audit.selectors.audit_export_list`'s; ``events``,
    when given, is a narrower selection (the admin's selected rows), kept
    within what the filters and the user's scope allow; ``query`` is the
    admin changelist's query string, recorded as the filters it applied.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    queryset = audit_export_list(user=user, **filters)
    if events is not None:
        queryset = queryset.filter(pk__in=events.values("pk"))
    pii_ids = namespace_ids_for(user, Action.VIEW_PII)
    rows = [event_row(event, _redactor(user, event, pii_ids)) for event in queryset]
    content = to_csv(rows) if fmt == "csv" else to_json(rows)
    with transaction.atomic():
        audit_record(
            actor=Actor.of(user),
            action="audit.exported",
            object_type="audit",
            object_id="export",
            reason=f"exported {len(rows)} audit event(s) as {fmt}",
            metadata={
                "format": fmt,
                "rows": len(rows),
                "filters": {key: str(value) for key, value in filters.items() if value},
                "selected": events is not None,
                "admin_query": query,
            },
        )
    return Export(content, CONTENT_TYPES[fmt], len(rows), f"audit-export.{fmt}")


def _redactor(user: Any, event: AuditEvent, pii_ids: set[int]) -> Redactor:
    """Return the redactor of ``event`` for ``user``: all shown to a pii_viewer.

    Without the role, personal keys are masked, e-mail addresses scrubbed
    and the personal values in the event's own metadata scrubbed from its
    reason.
    """
    if user.is_active and user.is_superuser:
        return REVEAL
    if event.namespace_id is not None and event.namespace_id in pii_ids:
        return REVEAL
    return Redactor().learn(event.metadata)


def event_row(event: AuditEvent, redactor: Redactor) -> dict[str, Any]:
    """Return one exported event, its reason and metadata redacted."""
    return {
        "id": str(event.pk),
        "created_at": event.created_at.isoformat(),
        "actor": event.actor_label,
        "initiator": event.initiator_label,
        "action": event.action,
        "namespace": event.namespace.slug if event.namespace else None,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "reason": redactor.text(event.reason) or "",
        "metadata": redactor.data(event.metadata),
        "correlation_id": event.correlation_id,
        "remote_addr": event.remote_addr,
        "chain": event.chain,
        "seq": event.seq,
        "hash": event.hash,
    }


def safe_cell(value: Any) -> str:
    """Return ``value`` as a CSV cell a spreadsheet shows and never evaluates."""
    if value is None:
        return ""
    text = (
        json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
        if isinstance(value, dict | list)
        else str(value)
    )
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Return ``rows`` as CSV with a header, every cell formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(row[column]) for column in COLUMNS])
    return out.getvalue()


def to_json(rows: list[dict[str, Any]]) -> str:
    """Return ``rows`` as a JSON array."""
    return json.dumps(rows, cls=DjangoJSONEncoder, ensure_ascii=False)
