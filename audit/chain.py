"""Hash-chain audit events, and cover each django-auditlog entry with one.

Every :class:`~audit.models.AuditEvent` belongs to one chain: ``ns:<namespace
id>`` for an event in a namespace, ``global`` for one outside any. A chain's
rows have a gapless ``seq`` from 1; each row's ``prev_hash`` is its
predecessor's ``hash`` ("" for the first), and ``hash`` is an HMAC-SHA256
under ``TASKER_AUDIT_KEY`` over the row's canonical encoding: every concrete
column but ``hash`` itself (``prev_hash`` included). A django-auditlog
``LogEntry`` is covered by a chained ``auditlog.entry`` event whose metadata
holds the entry's digest, an HMAC of its own columns.

**Canonical encoding.** A JSON object ``{"table": <db table>, "row": {<column
attname>: <value>}}`` with sorted keys, ``(",", ":")`` separators and ASCII
output. Values are normalised the way the database returns them: datetimes as
ISO 8601 UTC with microseconds (``2026-01-02T03:04:05.000006Z``), UUIDs as
hyphenated strings, foreign keys as the raw id, JSON columns as their parsed
value with integral floats as integers (jsonb prints ``1e16`` as
``10000000000000000``). A NULL column is left out, so a nullable column
added later leaves the hashes of older rows valid; a column added with a
non-NULL value needs the rows re-chained (:func:`chain_existing`).

**Serialised appends.** On PostgreSQL an append takes
``pg_advisory_xact_lock`` on the chain (held until the transaction ends)
and only then reads the chain's head, so it sees every committed append.
SQLite runs its transactions ``IMMEDIATE`` (settings/base.py): the write lock
is taken at BEGIN, so the head read is already serialised.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import json
import uuid
from collections.abc import Generator, Iterable
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connection, models, transaction
from django.db.models.signals import post_save
from django.utils.dateparse import parse_datetime

from audit.models import AuditEvent

GLOBAL_CHAIN = "global"
COVER_ACTION = "auditlog.entry"
COVER_TYPE = "auditlog.logentry"
COVER_ACTOR = "system:auditlog"


def chain_name(namespace_id: Any) -> str:
    """Return the chain of an event in ``namespace_id`` (None: the global one)."""
    return GLOBAL_CHAIN if namespace_id is None else f"ns:{namespace_id}"


# --- canonical encoding ----------------------------------------------------


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # As the decimal jsonb prints: 1.5e300 is 15 then 299 zeros, not the
        # binary float's exact integer value.
        return int(decimal.Decimal(repr(value)))
    return value


def plain(field: models.Field, value: Any, *, from_db: bool) -> Any:
    """Return ``value`` of ``field`` as it goes into the canonical encoding.

    ``from_db``: the value is what a raw cursor returned (JSON as text).
    Raises ``ValueError`` / ``ValidationError`` for a value that cannot be
    read, such as JSON that no longer parses.
    """
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        if from_db and isinstance(value, str | bytes):
            value = json.loads(value)
        elif not from_db:
            value = json.loads(json.dumps(value, cls=field.encoder))
        return _json_value(value)
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None:
                raise ValueError(f"not a datetime: {value!r}")
            value = parsed
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    value = field.to_python(value)
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


def _hashed_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.attname != "hash"]


def instance_values(obj: models.Model) -> dict[str, Any]:
    """Return the canonical column values of ``obj`` (not yet saved, maybe)."""
    values = {}
    for field in _hashed_fields(type(obj)):
        value = plain(field, getattr(obj, field.attname), from_db=False)
        if value is not None:
            values[field.attname] = value
    return values


def digest(model: type[models.Model], values: dict[str, Any]) -> str:
    """Return the HMAC-SHA256 (hex) of a row's canonical encoding."""
    payload = json.dumps(
        {"table": model._meta.db_table, "row": values},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    key: bytes = settings.TASKER_AUDIT_KEY
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def read_rows(
    model: type[models.Model], *, order_by: str, where: str = "", params: Any = ()
) -> Generator[tuple[dict[str, Any], str | None], None, None]:
    """Yield ``(values, error)`` per row of ``model``, read with a raw cursor.

    Raw, so that a column edited into something the ORM cannot load (JSON
    that no longer parses) is reported instead of raising. ``values`` holds
    every readable hashed column, plus ``hash`` when the model has one;
    ``error`` names the first unreadable column.
    """
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    # Identifiers come from the model's _meta, quoted; values are parameters.
    table = quote(model._meta.db_table)
    sql = f"SELECT {columns} FROM {table} {where} ORDER BY {order_by}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(500):
            for raw in batch:
                yield _decode(fields, raw)


def _decode(
    fields: list[models.Field], raw: Iterable[Any]
) -> tuple[dict[str, Any], str | None]:
    values: dict[str, Any] = {}
    error = None
    for field, value in zip(fields, raw, strict=True):
        try:
            decoded = plain(field, value, from_db=True)
        except json.JSONDecodeError:
            error = error or f"column {field.column} holds JSON that no longer parses"
            continue
        except (ValueError, TypeError, ValidationError):
            error = error or f"column {field.column} cannot be read"
            continue
        if decoded is not None:
            values[field.attname] = decoded
    return values, error


def row_hash(model: type[models.Model], values: dict[str, Any]) -> str:
    """Return the hash a chained row with these column values must carry."""
    return digest(model, {k: v for k, v in values.items() if k != "hash"})


# --- appending -------------------------------------------------------------


def _lock(chain: str) -> None:
    """Serialise appends to ``chain`` until the transaction ends."""
    if connection.vendor != "postgresql":
        return  # SQLite: the IMMEDIATE transaction already holds the write lock
    key = int.from_bytes(
        hashlib.sha256(f"tasker.audit:{chain}".encode()).digest()[:8],
        "big",
        signed=True,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _head(model: type[models.Model], chain: str) -> tuple[int, str]:
    row = (
        model._default_manager.filter(chain=chain)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    return (row[0], row[1]) if row else (0, "")


def link(events: list[Any], *, model: type[models.Model] = AuditEvent) -> None:
    """Give ``events`` (unsaved, in order) their chain, seq and hashes.

    Call inside the transaction that inserts them: the chains' locks are
    taken here, in chain-name order, and held until it ends.
    """
    by_chain: dict[str, list[Any]] = {}
    for event in events:
        event.chain = chain_name(event.namespace_id)
        by_chain.setdefault(event.chain, []).append(event)
    for name in sorted(by_chain):
        _lock(name)
        seq, prev = _head(model, name)
        for event in by_chain[name]:
            seq += 1
            event.seq, event.prev_hash = seq, prev
            event.hash = prev = row_hash(model, instance_values(event))


def append(events: list[AuditEvent]) -> list[AuditEvent]:
    """Chain and insert ``events`` in one transaction (the caller's, if open)."""
    with transaction.atomic(savepoint=False):
        link(events)
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
    return events


# --- django-auditlog entries -----------------------------------------------


def logentry_digest(model: type[models.Model], pk: Any) -> str:
    """Return the digest of the stored LogEntry ``pk``, read back raw."""
    quote = connection.ops.quote_name
    rows = read_rows(
        model, order_by=quote("id"), where=f"WHERE {quote('id')} = %s", params=[pk]
    )
    values, error = next(rows)
    rows.close()
    if error:
        raise ValueError(f"log entry {pk}: {error}")
    return digest(model, values)


def _namespace_of(entry: LogEntry) -> Any:
    """Return the namespace id of the object ``entry`` logs, when it has one."""
    model = entry.content_type.model_class()
    if model is None:
        return None
    try:
        field = model._meta.get_field("namespace")
    except FieldDoesNotExist:
        return None
    if not field.many_to_one or field.related_model is None:
        return None
    if field.related_model._meta.label != "namespaces.Namespace":
        return None
    try:
        return (
            model._base_manager.filter(pk=entry.object_pk)
            .values_list("namespace_id", flat=True)
            .first()
        )
    except (ValueError, ValidationError):
        return None


def cover_event(entry: Any, entry_digest: str, namespace_id: Any = None) -> Any:
    """Return the unsaved ``auditlog.entry`` event that covers ``entry``."""
    return AuditEvent(
        actor_id=entry.actor_id,
        actor_label=entry.actor_email or COVER_ACTOR,
        correlation_id=(entry.cid or "")[:100],
        remote_addr=entry.remote_addr,
        action=COVER_ACTION,
        namespace_id=namespace_id,
        object_type=COVER_TYPE,
        object_id=str(entry.pk),
        metadata={"digest": entry_digest},
    )


def cover_logentry(
    sender: Any, instance: LogEntry, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    """Append the chained event covering a new LogEntry, in its transaction."""
    if not created or raw:
        return
    append(
        [
            cover_event(
                instance,
                logentry_digest(LogEntry, instance.pk),
                _namespace_of(instance),
            )
        ]
    )


def connect_signals() -> None:
    """Cover every LogEntry django-auditlog writes (saves, m2m, accesses)."""
    post_save.connect(cover_logentry, sender=LogEntry, dispatch_uid="audit.chain")


# --- rows written before the chain existed ---------------------------------


def chain_existing(event_model: Any, logentry_model: Any) -> None:
    """Chain the events that exist (created_at, id order) and cover the entries.

    Written for the data migration (historical models), idempotent: chained
    rows keep their links, and an entry already covered is not covered twice.
    """
    events = list(event_model.objects.filter(hash="").order_by("created_at", "id"))
    heads: dict[str, tuple[int, str]] = {}
    for event in events:
        event.chain = chain_name(event.namespace_id)
        if event.chain not in heads:
            heads[event.chain] = _head(event_model, event.chain)
        seq, prev = heads[event.chain]
        event.seq, event.prev_hash = seq + 1, prev
        event.hash = row_hash(event_model, instance_values(event))
        heads[event.chain] = (event.seq, event.hash)
    event_model.objects.bulk_update(
        events, ["chain", "seq", "prev_hash", "hash"], batch_size=500
    )
    covered = set(
        event_model.objects.filter(action=COVER_ACTION).values_list(
            "object_id", flat=True
        )
    )
    quote = connection.ops.quote_name
    covers = []
    for values, _error in read_rows(logentry_model, order_by=quote("id")):
        if str(values["id"]) not in covered:
            entry = logentry_model(
                id=values["id"],
                actor_id=values.get("actor_id"),
                actor_email=values.get("actor_email"),
                cid=values.get("cid"),
                remote_addr=values.get("remote_addr"),
            )
            event = cover_event(entry, digest(logentry_model, values))
            covers.append(
                event_model(
                    **{
                        f.attname: getattr(event, f.attname)
                        for f in event_model._meta.concrete_fields
                    }
                )
            )
    link(covers, model=event_model)
    event_model.objects.bulk_create(covers, batch_size=500)
