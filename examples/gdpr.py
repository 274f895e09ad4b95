"""The examples' part in GDPR export and erasure (:mod:`audit.gdpr`).

Their personal records (customers, tickets, payments, orders, sent mail,
accounts) are plain models with encrypted fields: the default exporter
dumps them decrypted, and erasure clears their blind indexes. None of them
runs for long, so none holds an erasure back. :func:`gdpr_export_action`
is the Customer admin's download of a customer's export.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from audit import crypto, gdpr
from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError

OWNER_TYPES = (
    "examples.customer",
    "examples.supportticket",
    "examples.payment",
    "examples.order",
    "examples.sentemail",
    "examples.useraccount",
)


def register() -> None:
    """Register the examples' personal records with :mod:`audit.gdpr`."""
    for owner_type in OWNER_TYPES:
        gdpr.register(owner_type)


@admin.action(description="Export personal data (GDPR, superusers only)")
def gdpr_export_action(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    """Download the GDPR export of the selected customers' subjects, audited."""
    actor = Actor.of(request.user)
    try:
        gdpr.require_superuser(actor, operation="export")
    except TaskerError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return None
    emails = sorted({c.email for c in queryset if c.email and c.email != crypto.ERASED})
    if not emails:
        modeladmin.message_user(
            request, "The selected customers hold no e-mail to export.", messages.ERROR
        )
        return None
    try:
        documents = [gdpr.subject_export(email=email, actor=actor) for email in emails]
    except TaskerError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
        return None
    body = documents[0] if len(documents) == 1 else {"subjects": documents}
    response = HttpResponse(
        json.dumps(body, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False),
        content_type="application/json",
    )
    name = documents[0]["export_id"] if len(documents) == 1 else "subjects"
    response["Content-Disposition"] = f'attachment; filename="gdpr-{name}.json"'
    return response
