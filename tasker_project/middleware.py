"""Request context for the audit trail: correlation id, client address, actor."""

from __future__ import annotations

from collections.abc import Callable

from auditlog.middleware import AuditlogMiddleware as BaseAuditlogMiddleware
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit.access import record_viewed
from tasker_project.client_ip import client_ip
from tasker_project.core import context
from tasker_project.core.actors import Actor

CORRELATION_HEADER = "X-Correlation-ID"


class CorrelationMiddleware:
    """Bind the request's correlation id and client address; echo the id.

    A client's ``X-Correlation-ID`` of 1-100 printable ASCII characters is
    kept (a task it starts takes it as its correlation id); anything else
    gets a fresh id, never an error. The address is the one
    ``TASKER_TRUSTED_PROXIES`` allows. Audit events and django-auditlog's
    ``cid`` read both from :mod:`tasker_project.core.context`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cid = context.correlation_id_from(request.headers.get(CORRELATION_HEADER))
        with context.bind(
            correlation_id=cid,
            remote_addr=client_ip(request.META) or None,
            initiator_label="",
        ):
            response = self.get_response(request)
        response[CORRELATION_HEADER] = cid
        return response


class AuditlogMiddleware(BaseAuditlogMiddleware):
    """Record the client address as ``TASKER_TRUSTED_PROXIES`` allows.

    The upstream middleware takes the first ``X-Forwarded-For`` entry, which
    any client can set. Its ``cid`` comes from ``AUDITLOG_CID_GETTER``
    (:func:`tasker_project.core.context.correlation_id`), bound by
    :class:`CorrelationMiddleware`, which must run first.
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


class PIIViewedMiddleware:
    """Record ``pii.viewed`` for a response that showed personal data unmasked.

    Redactors note each object they reveal (:func:`audit.access.note_viewed`)
    on the request, in the API, the admin and any page; after the view, a
    successful response writes one event per namespace with the object ids.
    A refused or failed response showed nothing and records nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if response.status_code < 400 and user is not None and user.is_authenticated:
            record_viewed(request, actor=Actor.of(user))
        return response
