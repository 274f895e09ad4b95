"""django-auditlog's middleware with a remote address that cannot be forged."""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest

from tasker_project.client_ip import client_ip


class AuditlogMiddleware(BaseAuditlogMiddleware):
    """Record the client address as ``TASKER_TRUSTED_PROXIES`` allows.

    The upstream middleware takes the first ``X-Forwarded-For`` entry, which
    any client can set.
    """

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        """Return the client address, or None when the audit log keeps none."""
        if getattr(settings, "AUDITLOG_DISABLE_REMOTE_ADDR", False):
            return None
        return client_ip(request.META) or None

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        """Return ``X-Forwarded-Port`` only when a trusted proxy sets it."""
        if not getattr(settings, "TASKER_TRUSTED_PROXIES", 0):
            return None
        return BaseAuditlogMiddleware._get_remote_port(request)
