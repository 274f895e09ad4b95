"""Audit events for what Django signals rather than a service does.

``auth.login_failed``: ``django.contrib.auth.authenticate`` sends
``user_login_failed`` for every refused password login, the admin's, a web
form's and the JWT token endpoint's (simplejwt's serializer calls
``authenticate``), so one receiver covers them all. It records the
attempted username, never the credentials (Django has already replaced the
password with stars, and it is not read here); the client address and the
correlation id come from the request context.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from audit.trail import audit_record
from tasker_project.client_ip import client_ip
from tasker_project.core import context
from tasker_project.core.actors import AUTH


def auth_login_failed(
    sender: Any,
    credentials: dict[str, Any],
    request: HttpRequest | None = None,
    **kwargs: Any,
) -> None:
    """Record a refused login attempt as ``system:auth``."""
    field = get_user_model().USERNAME_FIELD
    username = str(credentials.get(field) or credentials.get("username") or "")
    address = context.remote_addr()
    if address is None and request is not None:
        address = client_ip(request.META) or None
    audit_record(
        actor=AUTH,
        action="auth.login_failed",
        object_type="user",
        object_id=username[:64],
        metadata={"username": username[:150], "path": _path(request)},
        remote_addr=address,
    )


def _path(request: HttpRequest | None) -> str:
    """Return which login was tried (the admin's, the token endpoint …)."""
    path = getattr(request, "path", "") or ""
    return str(path)[:200]
