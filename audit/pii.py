"""Mask personal data for readers without the ``pii_viewer`` role.

A value is personal when its key is marked ``x-pii: true`` in the
definition's context schema, or when its key is one of the well-known
personal keys below, at any depth of the context or of step results.
"""

from __future__ import annotations

from typing import Any

PII_KEYS = frozenset(
    {
        "email",
        "customer_email",
        "to",
        "name",
        "customer_name",
        "full_name",
        "first_name",
        "last_name",
        "phone",
        "address",
        "agent_notes",
    }
)
MASK = "***"


def schema_pii_keys(schema: Any) -> set[str]:
    """Return property names the schema marks with ``x-pii: true``, any depth."""
    keys: set[str] = set()
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict) and sub.get("x-pii") is True:
                keys.add(name)
            keys |= schema_pii_keys(sub)
        for key in ("items", "additionalProperties"):
            keys |= schema_pii_keys(schema.get(key))
    return keys


def mask_value(value: Any) -> Any:
    """Return a masked stand-in: an e-mail keeps its first letter and domain."""
    if isinstance(value, str) and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}{MASK}@{domain}"
    if value is None or value == "":
        return value
    return MASK


def mask_pii(data: Any, extra_keys: set[str] | frozenset[str] = frozenset()) -> Any:
    """Return a copy of ``data`` with personal values masked."""
    keys = PII_KEYS | set(extra_keys)
    if isinstance(data, dict):
        return {
            k: (
                mask_value(v)
                if k in keys and not isinstance(v, dict | list)
                else mask_pii(v, extra_keys)
            )
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_pii(item, extra_keys) for item in data]
    return data
