"""The client's address, trusting ``X-Forwarded-For`` only behind known proxies.

``TASKER_TRUSTED_PROXIES`` says who sets the header: empty or ``0`` (the
default) means nobody, so ``REMOTE_ADDR`` is the client; a count ``N`` means
exactly N proxies append to it, so the client is the Nth address from the
right; a comma-separated list of networks means a request from one of them
may name the client, found by walking the header from the right past every
trusted address. A client can always prepend whatever it likes to the
header, so only the right-hand part that trusted proxies wrote counts.

This module is imported by the settings: it must not touch Django settings
at import time.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from django.core.exceptions import ImproperlyConfigured

Network = IPv4Network | IPv6Network
TrustedProxies = int | list[Network]


def trusted_proxies(value: str) -> TrustedProxies:
    """Parse ``TASKER_TRUSTED_PROXIES``: a count of proxies or their networks."""
    value = (value or "").strip()
    if not value:
        return 0
    if value.lstrip("+-").isdigit():
        count = int(value)
        if count < 0:
            raise ImproperlyConfigured(
                "TASKER_TRUSTED_PROXIES must be a count >= 0 or networks, "
                f"not {value!r}"
            )
        return count
    networks: list[Network] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                "TASKER_TRUSTED_PROXIES must be a count or comma-separated "
                f"networks (CIDR); {item!r} is neither"
            ) from None
    return networks


def _address(value: str) -> IPv4Address | IPv6Address | None:
    """Parse one address, dropping a port (``1.2.3.4:80``, ``[::1]:80``)."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1 and "." in value:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, networks: list[Network]) -> bool:
    """Return whether ``address`` is one of the trusted proxies' networks."""
    return any(address in network for network in networks)


def client_ip(
    meta: Mapping[str, str], proxies: TrustedProxies | str | None = None
) -> str:
    """Return the client's address from a request's ``META``.

    ``proxies`` defaults to ``settings.TASKER_TRUSTED_PROXIES`` (read now,
    not at import).
    """
    if proxies is None:
        from django.conf import settings

        proxies = getattr(settings, "TASKER_TRUSTED_PROXIES", 0)
    if isinstance(proxies, str):
        proxies = trusted_proxies(proxies)
    remote = meta.get("REMOTE_ADDR", "") or ""
    if not proxies:
        return remote
    forwarded = [
        item.strip()
        for item in (meta.get("HTTP_X_FORWARDED_FOR", "") or "").split(",")
        if item.strip()
    ]
    if isinstance(proxies, int):
        if len(forwarded) < proxies:
            return remote
        address = _address(forwarded[-proxies])
        return str(address) if address is not None else remote
    remote_address = _address(remote)
    if remote_address is None or not _trusted(remote_address, proxies):
        return remote
    client = remote_address
    for item in reversed(forwarded):
        address = _address(item)
        if address is None:
            break
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)
