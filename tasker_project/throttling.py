"""DRF throttles keyed on the client address from ``tasker_project.client_ip``.

DRF's own ``get_ident`` trusts ``X-Forwarded-For`` unless ``NUM_PROXIES`` is
set: by default the whole header is the key, so rotating it gets a fresh
bucket per request. ``NUM_PROXIES`` is not reused: it knows only a count (not
proxy networks), serves only the throttles (not the audit log's address or
``SECURE_PROXY_SSL_HEADER``), and given fewer entries than proxies it takes
the leftmost one, which the client wrote. These throttles follow
``TASKER_TRUSTED_PROXIES`` instead, like everything else that needs the
client's address.
"""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.request import Request

from tasker_project.client_ip import client_ip


class ClientIpMixin:
    """Identify an anonymous client by the address ``client_ip`` trusts."""

    def get_ident(self, request: Request) -> str:
        """Return the client's address, never a header it may have forged."""
        return client_ip(request.META)


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    """Anonymous requests per client address."""


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    """Requests per user (per client address when anonymous)."""


class ScopedRateThrottle(ClientIpMixin, throttling.ScopedRateThrottle):
    """Requests per view scope and user (or client address)."""
