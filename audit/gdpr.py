"""GDPR: export and erase a data subject's personal data (superusers only).

A subject is found by the blind index of their e-mail
(:func:`audit.crypto.blind_index`) on :class:`audit.models.DataKey`: every
record holding their data has a key tagged with it. Apps register, per
``owner_type``, how to export their records and which of them are still
unfinished (:func:`register`); a plain model owner without a registration is
exported field by field (:func:`model_exporter`). The registry keeps this
module free of imports from the apps that own the records.

- **Export** (:func:`subject_export`) returns one JSON-able document, every
  value decrypted, and writes one ``gdpr.exported`` audit event (counts only).
- **Erasure** (:func:`subject_erase`) shreds the subject's keys: ``wrapped``
  NULL, ``subject_index`` blank, ``erased_at`` set. Every token under those
  keys, in every table and every backup, then reads ``[erased]``. The owners'
  blind-index columns are cleared, so no HMAC of the e-mail is left to link
  the rows. One ``gdpr.erased`` event records counts and owner ids, never the
  e-mail nor its index.
- **Retention** (:func:`retention_erase`) erases the subjects whose newest key
  is older than ``TASKER_PII_RETENTION_DAYS`` and who have nothing unfinished.

Transactions: one subject's erasure (cancelling its unfinished records,
shredding its keys, clearing its indexes, the audit event) is one durable
transaction, so a failure leaves nothing half-done; its UPDATEs are issued
in chunks of :data:`BATCH_SIZE` ids only to bound each statement. Retention
erases each subject in its own transaction: a run that stops midway has
erased whole subjects only, and the next run picks up the rest. The keys
are removed from this process's cache at once and after commit; other processes drop
theirs within ``TASKER_PII_KEY_CACHE_SECONDS``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

from audit import crypto
from audit.fields import BlindIndexField, DataKeyField
from audit.models import DataKey
from audit.registry import log_update
from audit.trail import audit_record
from tasker_project.core.actors import Actor
from tasker_project.core.errors import PermissionDenied, TaskerError
from tasker_project.core.ids import uuid7

# Ids per UPDATE: bounds the statement, not the transaction.
BATCH_SIZE = 500
# Shown instead of an e-mail address an operator typed into a reason: the
# audit trail outlives the erasure and must not name the person.
ADDRESS_MASK = "[e-mail]"
_ADDRESS = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+")
RETENTION = Actor.system_actor("retention")

Exporter = Callable[[list[str]], list[dict[str, Any]]]
Unfinished = Callable[[list[str]], list[str]]
Canceller = Callable[..., int]


class InvalidSubject(TaskerError):
    """The subject is not an e-mail address."""

    code = "invalid_subject"


class SubjectHasUnfinished(TaskerError):
    """The subject still has unfinished tasks; erase with ``cancel`` to cancel them."""

    code = "subject_has_unfinished_tasks"
    http_status = 409


@dataclass(frozen=True)
class Owner:
    """How one ``owner_type`` exports, reports and cancels its records."""

    owner_type: str
    export: Exporter
    unfinished: Unfinished | None = None
    cancel: Canceller | None = None


_owners: dict[str, Owner] = {}


def register(
    owner_type: str,
    *,
    export: Exporter | None = None,
    unfinished: Unfinished | None = None,
    cancel: Canceller | None = None,
) -> None:
    """Register how records of ``owner_type`` (``"<app_label>.<model>"``) take part.

    ``export(ids)`` returns one decrypted, JSON-able dict per owner id;
    ``unfinished(ids)`` describes the records still running (erasure waits
    for them); ``cancel(ids, actor=, reason=)`` cancels those and returns how
    many. Registering again replaces the entry (``ready()`` may run twice).
    """
    _owners[owner_type] = Owner(
        owner_type=owner_type,
        export=export or model_exporter(owner_type),
        unfinished=unfinished,
        cancel=cancel,
    )


def owner(owner_type: str) -> Owner:
    """Return the registration of ``owner_type``, or the plain-model default."""
    found = _owners.get(owner_type)
    return found if found is not None else Owner(owner_type, model_exporter(owner_type))


def _model(owner_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(owner_type)
    except (LookupError, ValueError):
        return None


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON types (dates, UUIDs, decimals as strings)."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def model_exporter(owner_type: str) -> Exporter:
    """Return an exporter dumping a model's concrete fields, decrypted.

    The data key and blind-index columns are machinery, not the subject's
    data, and are left out; encrypted fields already read as plaintext,
    and tokens inside other columns (JSON) are opened with the row's key.
    """

    def export(owner_ids: list[str]) -> list[dict[str, Any]]:
        model = _model(owner_type)
        if model is None:
            return [{"owner_type": owner_type, "id": pk} for pk in owner_ids]
        fields = [
            field
            for field in model._meta.concrete_fields
            if not isinstance(field, DataKeyField | BlindIndexField)
        ]
        key_field = next(
            (f for f in model._meta.concrete_fields if isinstance(f, DataKeyField)),
            None,
        )
        rows = []
        for obj in model._default_manager.filter(pk__in=owner_ids).order_by("pk"):
            box = (
                crypto.box_for(getattr(obj, key_field.attname))
                if key_field is not None
                else crypto.NO_KEY
            )
            rows.append(
                {
                    field.attname: jsonable(box.open(field.value_from_object(obj)))
                    for field in fields
                }
            )
        return rows

    return export


def require_superuser(
    actor: Actor, *, operation: str, system_allowed: bool = False
) -> None:
    """Raise :class:`PermissionDenied` unless ``actor`` is an active superuser.

    A refused user is audited (``gdpr.refused``) in a transaction of its
    own, so the record survives the refusal; ``system_allowed`` lets a
    system actor (the retention job) through.
    """
    user = actor.user
    if user is None:
        if system_allowed:
            return
        raise PermissionDenied("GDPR export and erasure are for superusers only")
    if user.is_active and user.is_superuser:
        return
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="gdpr.refused",
            object_type="gdpr_subject",
            object_id=uuid7().hex,
            reason=f"{operation} refused: not an active superuser",
            metadata={"operation": operation},
        )
    raise PermissionDenied(
        f"{user.get_username()} is not an active superuser: GDPR export and "
        "erasure are for superusers only",
        fields={"actor": ["An active superuser."]},
    )


def superuser_actor(username: str | None, *, operation: str) -> Actor:
    """Return the actor of the active superuser ``username`` (the CLI's ``--actor``)."""
    user = (
        get_user_model().objects.filter(username=username).first() if username else None
    )
    if user is None:
        raise PermissionDenied(
            f"--actor: no user {username!r}: name an active superuser"
            if username
            else "--actor: name an active superuser (GDPR is for superusers only)",
            fields={"actor": ["An active superuser's username."]},
        )
    actor = Actor.of(user)
    try:
        require_superuser(actor, operation=operation)
    except PermissionDenied as exc:
        raise PermissionDenied(f"--actor: {exc.message}", fields=exc.fields) from None
    return actor


def subject_index(email: str) -> str:
    """Return the blind index of ``email``; refuse what is not an e-mail address."""
    text = (email or "").strip()
    try:
        validate_email(text)
    except ValidationError:
        raise InvalidSubject(
            f"{email!r} is not an e-mail address",
            fields={"subject": ["Enter an e-mail address."]},
        ) from None
    return crypto.blind_index(text)


def _owners_of(index: str, *, lock: bool = False) -> dict[str, list[str]]:
    """Return the subject's owner ids by owner type (keys not erased)."""
    keys = DataKey.objects.filter(subject_index=index, wrapped__isnull=False)
    if lock:
        keys = keys.select_for_update()
    found: dict[str, list[str]] = {}
    for owner_type, owner_id in keys.order_by("owner_type", "owner_id").values_list(
        "owner_type", "owner_id"
    ):
        found.setdefault(owner_type, []).append(owner_id)
    return found


def _chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def subject_export(*, email: str, actor: Actor) -> dict[str, Any]:
    """Return every record of the subject ``email``, decrypted; audit the export.

    An unknown subject gets a document with no records (and is audited
    alike, so the trail does not tell which addresses are known).
    """
    require_superuser(actor, operation="export")
    index = subject_index(email)
    with transaction.atomic(durable=True):
        by_type = _owners_of(index)
        records = {
            owner_type: owner(owner_type).export(ids)
            for owner_type, ids in by_type.items()
        }
        counts = {owner_type: len(rows) for owner_type, rows in records.items()}
        export_id = uuid7()
        audit_record(
            actor=actor,
            action="gdpr.exported",
            object_type="gdpr_subject",
            object_id=export_id.hex,
            metadata={"records": sum(counts.values()), "by_owner_type": counts},
        )
    return {
        "subject": email.strip(),
        "export_id": str(export_id),
        "exported_at": timezone.now().isoformat(),
        "records": records,
    }


def scrub_reason(reason: str) -> str:
    """Return ``reason`` with any e-mail address replaced: the trail outlives it."""
    return _ADDRESS.sub(ADDRESS_MASK, reason.strip())


def _unfinished(by_type: dict[str, list[str]]) -> dict[str, list[str]]:
    found = {}
    for owner_type, ids in by_type.items():
        check = owner(owner_type).unfinished
        described = check(ids) if check is not None else []
        if described:
            found[owner_type] = described
    return found


def _clear_indexes(owner_type: str, ids: list[str]) -> int:
    """Blank the owners' blind-index columns; write the auditlog entries it skips."""
    model = _model(owner_type)
    if model is None:
        return 0
    columns = [
        f.attname for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)
    ]
    if not columns:
        return 0
    cleared = 0
    blank = dict.fromkeys(columns, "")
    for chunk in _chunks(ids):
        rows = model._default_manager.filter(pk__in=list(chunk))
        before = list(rows.exclude(**blank).values("pk", *columns))
        if not before:
            continue
        cleared += rows.filter(pk__in=[row["pk"] for row in before]).update(**blank)
        for values in before:
            # Instances carry only the changed columns: the diff names those.
            old = model(**values)
            new = copy.copy(old)
            for column in columns:
                setattr(new, column, "")
            log_update(old, new)
    return cleared


def _erase(
    *, index: str, actor: Actor, reason: str, cancel: bool, now: datetime
) -> dict[str, Any]:
    """Erase one subject in the caller's transaction; return the counts."""
    by_type = _owners_of(index, lock=True)
    cancelled = 0
    unfinished = _unfinished(by_type)
    if unfinished and cancel:
        for owner_type, ids in by_type.items():
            canceller = owner(owner_type).cancel
            if owner_type in unfinished and canceller is not None:
                cancelled += canceller(ids, actor=actor, reason=reason)
        unfinished = _unfinished(by_type)
    if unfinished:
        described = [item for items in unfinished.values() for item in items]
        raise SubjectHasUnfinished(
            f"the subject has {len(described)} unfinished task(s): "
            + ", ".join(described[:20])
            + (" …" if len(described) > 20 else "")
            + "; finish or cancel them first (erase with --cancel to cancel them)",
        )
    key_ids: list[Any] = []
    for chunk in _chunks(
        list(
            DataKey.objects.filter(subject_index=index, wrapped__isnull=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    ):
        DataKey.objects.filter(pk__in=list(chunk), wrapped__isnull=False).update(
            wrapped=None, subject_index="", erased_at=now
        )
        key_ids.extend(chunk)
    indexes_cleared = sum(_clear_indexes(t, ids) for t, ids in by_type.items())
    counts = {
        "data_keys": len(key_ids),
        "by_owner_type": {t: len(ids) for t, ids in by_type.items()},
        "cancelled": cancelled,
        "blind_indexes_cleared": indexes_cleared,
    }
    erasure_id = uuid7()
    audit_record(
        actor=actor,
        action="gdpr.erased",
        object_type="gdpr_subject",
        object_id=erasure_id.hex,
        reason=reason,
        metadata={**counts, "owners": by_type},
    )
    # Dropping a cached key is harmless even if this rolls back (it is read
    # again); after commit once more, for a read that re-cached it meanwhile.
    crypto.forget(key_ids)
    transaction.on_commit(lambda: crypto.forget(key_ids))
    return {**counts, "erasure_id": str(erasure_id)}


def subject_erase(
    *, email: str, actor: Actor, reason: str, cancel: bool = False
) -> dict[str, Any]:
    """Erase the subject ``email``: shred their keys, clear their indexes; audit it.

    Refused with :class:`SubjectHasUnfinished` while they have unfinished
    tasks, unless ``cancel`` (then cancelled first, as ``actor``, with
    ``reason``). An unknown subject erases nothing (counts of 0; audited).
    """
    require_superuser(actor, operation="erase")
    index = subject_index(email)
    reason = scrub_reason(reason or "")
    if not reason:
        raise TaskerError(
            "an erasure needs a reason",
            code="reason_required",
            fields={"reason": ["Say why the data is erased."]},
        )
    with transaction.atomic(durable=True):
        return _erase(
            index=index, actor=actor, reason=reason, cancel=cancel, now=timezone.now()
        )


def retention_candidates(*, days: int, now: datetime) -> list[str]:
    """Return the subject indexes whose newest key is older than ``days``."""
    cutoff = now - timedelta(days=days)
    return list(
        DataKey.objects.filter(wrapped__isnull=False)
        .exclude(subject_index="")
        .values("subject_index")
        .annotate(newest=Max("created_at"))
        .filter(newest__lt=cutoff)
        .order_by("subject_index")
        .values_list("subject_index", flat=True)
    )


def retention_erase(
    *,
    actor: Actor = RETENTION,
    days: int | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Erase every subject inactive for ``days`` (``TASKER_PII_RETENTION_DAYS``).

    A subject with an unfinished task is kept (and counted as ``kept``); each
    erased subject is one transaction and one ``gdpr.erased`` event.
    ``dry_run`` counts without erasing or auditing.
    """
    require_superuser(actor, operation="retention", system_allowed=True)
    days = settings.TASKER_PII_RETENTION_DAYS if days is None else days
    if days < 1:
        raise TaskerError(
            f"retention must be at least 1 day, not {days}",
            code="invalid_retention",
            fields={"days": ["At least 1."]},
        )
    now = now or timezone.now()
    reason = f"retention: no activity for {days} days"
    counts = {"subjects": 0, "kept": 0, "data_keys": 0}
    for index in retention_candidates(days=days, now=now):
        if _unfinished(_owners_of(index)):
            counts["kept"] += 1
            continue
        if dry_run:
            counts["subjects"] += 1
            counts["data_keys"] += DataKey.objects.filter(
                subject_index=index, wrapped__isnull=False
            ).count()
            continue
        try:
            with transaction.atomic(durable=True):
                # Re-checked under the keys' locks: a task may have started since.
                if DataKey.objects.filter(
                    subject_index=index, created_at__gte=now - timedelta(days=days)
                ).exists():
                    counts["kept"] += 1
                    continue
                done = _erase(
                    index=index, actor=actor, reason=reason, cancel=False, now=now
                )
        except SubjectHasUnfinished:
            counts["kept"] += 1
            continue
        counts["subjects"] += 1
        counts["data_keys"] += done["data_keys"]
    return counts
