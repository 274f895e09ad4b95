"""Walk every audit chain and every django-auditlog entry; name the first bad link.

Read with raw cursors (:func:`audit.chain.read_rows`), so a row the ORM could
not load (JSON edited into text that no longer parses) is reported, not
raised. The walk cannot see a chain cut short at its end: compare the heads
it prints with heads exported earlier (docs/compliance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditlog.models import LogEntry
from django.db import connection

from audit.chain import (
    COVER_ACTION,
    COVER_TYPE,
    chain_name,
    digest,
    read_rows,
    row_hash,
)
from audit.models import AuditEvent


class BadLink(Exception):
    """The trail does not verify; the message names the first bad row."""


@dataclass
class ChainHead:
    chain: str
    count: int
    seq: int
    hash: str


@dataclass
class Report:
    chains: list[ChainHead]
    log_entries: int


def _where(values: dict[str, Any]) -> str:
    return (
        f"audit event {values.get('id', '?')} "
        f"(chain {values.get('chain', '?')}, seq {values.get('seq', '?')})"
    )


def _check_event(
    values: dict[str, Any], error: str | None, head: ChainHead | None
) -> None:
    """Raise BadLink unless the event follows ``head`` (None: starts a chain)."""
    where = _where(values)
    if error:
        raise BadLink(f"{where}: {error}: the row was edited")
    expected_seq = head.seq + 1 if head else 1
    if values["seq"] != expected_seq:
        raise BadLink(
            f"{where}: expected seq {expected_seq}: "
            f"{values['seq'] - expected_seq} row(s) before it were deleted"
        )
    if values.get("prev_hash", "") != (head.hash if head else ""):
        raise BadLink(
            f"{where}: prev_hash is not the hash of seq {expected_seq - 1}: "
            "a row was inserted or re-linked"
        )
    if values.get("hash") != row_hash(AuditEvent, values):
        raise BadLink(f"{where}: hash mismatch: the row was edited or inserted")
    if values["chain"] != chain_name(values.get("namespace_id")):
        raise BadLink(f"{where}: the row's namespace does not match its chain")


def verify() -> Report:
    """Return the chains' heads and the entry count, or raise BadLink."""
    quote = connection.ops.quote_name
    heads: dict[str, ChainHead] = {}
    covers: dict[str, tuple[str, str]] = {}  # LogEntry id → (event id, digest)
    for values, error in read_rows(
        AuditEvent, order_by=f"{quote('chain')}, {quote('seq')}"
    ):
        head = heads.get(values.get("chain", ""))
        _check_event(values, error, head)
        heads[values["chain"]] = ChainHead(
            values["chain"],
            (head.count if head else 0) + 1,
            values["seq"],
            values["hash"],
        )
        if values["action"] == COVER_ACTION and values["object_type"] == COVER_TYPE:
            if values["object_id"] in covers:
                raise BadLink(
                    f"{_where(values)}: a second event covers log entry "
                    f"{values['object_id']}"
                )
            covers[values["object_id"]] = (
                values["id"],
                values.get("metadata", {}).get("digest", ""),
            )
    entries = 0
    for values, error in read_rows(LogEntry, order_by=quote("id")):
        entries += 1
        pk = str(values.get("id", "?"))
        if error:
            raise BadLink(f"log entry {pk}: {error}: the entry was edited")
        cover = covers.pop(pk, None)
        if cover is None:
            raise BadLink(
                f"log entry {pk}: no audit event covers it: the entry was inserted"
            )
        if cover[1] != digest(LogEntry, values):
            raise BadLink(
                f"log entry {pk}: digest mismatch with audit event {cover[0]}: "
                "the entry was edited"
            )
    if covers:
        pk, (event_id, _digest) = min(covers.items(), key=lambda item: item[0])
        raise BadLink(
            f"audit event {event_id} covers log entry {pk}, which is missing: "
            "the entry was deleted"
        )
    return Report(sorted(heads.values(), key=lambda h: h.chain), entries)
