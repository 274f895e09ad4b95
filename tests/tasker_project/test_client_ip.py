"""Client addresses: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.utils.module_loading import import_string

from namespaces.models import Namespace
from tasker_project.client_ip import client_ip, trusted_proxies


def meta(remote: str, forwarded: str | None = None) -> dict[str, str]:
    result = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        result["HTTP_X_FORWARDED_FOR"] = forwarded
    return result


def test_parse_trusted_proxies():
    assert trusted_proxies("") == 0
    assert trusted_proxies("  ") == 0
    assert trusted_proxies("0") == 0
    assert trusted_proxies("2") == 2
    assert trusted_proxies("10.0.0.0/8, fd00::/8,192.168.1.1") == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.1.1/32"),
    ]


@pytest.mark.parametrize("value", ["-1", "proxy", "10.0.0.0/33", "1,2"])
def test_malformed_trusted_proxies_name_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match="TASKER_TRUSTED_PROXIES"):
        trusted_proxies(value)


def test_no_proxies_ignores_the_header():
    assert client_ip(meta("10.0.0.5", "6.6.6.6"), 0) == "10.0.0.5"
    assert client_ip(meta("10.0.0.5"), 0) == "10.0.0.5"


def test_a_count_takes_the_nth_address_from_the_right():
    forwarded = "6.6.6.6, 1.2.3.4, 10.0.0.2"
    assert client_ip(meta("10.0.0.1", forwarded), 1) == "10.0.0.2"
    assert client_ip(meta("10.0.0.1", forwarded), 2) == "1.2.3.4"
    assert client_ip(meta("10.0.0.1", forwarded), 3) == "6.6.6.6"
    # Fewer addresses than proxies: the header is not what they wrote.
    assert client_ip(meta("10.0.0.1", forwarded), 4) == "10.0.0.1"
    assert client_ip(meta("10.0.0.1"), 1) == "10.0.0.1"
    # Ports are dropped; garbage falls back to the peer.
    assert client_ip(meta("10.0.0.1", "1.2.3.4:5678"), 1) == "1.2.3.4"
    assert client_ip(meta("10.0.0.1", "[2001:db8::1]:443"), 1) == "2001:db8::1"
    assert client_ip(meta("10.0.0.1", "not-an-ip"), 1) == "10.0.0.1"


def test_networks_walk_past_trusted_addresses_only_from_a_trusted_peer():
    proxies = trusted_proxies("10.0.0.0/8")
    forwarded = "6.6.6.6, 1.2.3.4, 10.1.1.1"
    assert client_ip(meta("10.0.0.1", forwarded), proxies) == "1.2.3.4"
    # An untrusted peer cannot name anyone.
    assert client_ip(meta("5.5.5.5", forwarded), proxies) == "5.5.5.5"
    # All trusted: the leftmost.
    assert client_ip(meta("10.0.0.1", "10.2.2.2"), proxies) == "10.2.2.2"
    assert client_ip(meta("10.0.0.1"), proxies) == "10.0.0.1"
    # A malformed entry stops the walk at the last good address.
    assert client_ip(meta("10.0.0.1", "junk, 10.3.3.3"), proxies) == "10.3.3.3"


def test_client_ip_reads_the_setting_when_called(settings):
    settings.TASKER_TRUSTED_PROXIES = 0
    assert client_ip(meta("10.0.0.1", "6.6.6.6")) == "10.0.0.1"
    settings.TASKER_TRUSTED_PROXIES = 1
    assert client_ip(meta("10.0.0.1", "6.6.6.6")) == "6.6.6.6"


@pytest.mark.django_db
def test_the_audit_log_records_an_unforgeable_remote_address(settings):
    """A change made in a request is logged with the peer, not a forged header."""
    entry = next(m for m in settings.MIDDLEWARE if m.endswith("AuditlogMiddleware"))
    factory = RequestFactory()

    def create_namespace(slug: str) -> LogEntry:
        request = factory.post(
            "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 7.7.7.7"
        )
        middleware = import_string(entry)(
            get_response=lambda request: Namespace.objects.create(slug=slug, name=slug)
        )
        namespace = middleware(request)
        return LogEntry.objects.get_for_object(namespace).get()

    settings.TASKER_TRUSTED_PROXIES = 0
    assert create_namespace("forged").remote_addr == "10.0.0.1"
    settings.TASKER_TRUSTED_PROXIES = 1
    assert create_namespace("proxied").remote_addr == "7.7.7.7"
