"""Re-wrap the data keys under the first master key (``manage.py rotate_pii_keys``).

Rotating a master key: put the new key first in ``TASKER_PII_KEYS`` (the
old ones after it, so they still unwrap), restart, run ``rotate_pii_keys``,
and drop the old keys once it reports nothing left.

Only the wrapping changes: a data key's raw bytes, and so every token it
sealed, stay the same. Nothing is re-encrypted, and no process's key cache
(:func:`audit.crypto.forget`) needs clearing: a cached key is the same key.

Each batch is its own transaction. Its rows are locked with ``SKIP LOCKED``
(PostgreSQL) and each is written back with a compare-and-set on
``(id, master_id)`` that also requires it not to have been erased meanwhile,
so two runs at once split the work, an erasure is never undone, and a run
that dies mid-way has committed whole batches only: running again resumes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet

from audit import crypto
from audit.models import DataKey
from audit.trail import audit_record
from tasker_project.core.actors import Actor
from tasker_project.core.errors import TaskerError

DEFAULT_BATCH_SIZE = 500


class UnknownMasterKey(TaskerError):
    """Some data keys are wrapped by none of the configured master keys."""

    code = "pii_master_key_unknown"
    http_status = 503

    def __init__(self, key_ids: list[uuid.UUID], report: RotationReport) -> None:
        shown = ", ".join(str(key_id) for key_id in key_ids[:20])
        more = f" and {len(key_ids) - 20} more" if len(key_ids) > 20 else ""
        super().__init__(
            f"{len(key_ids)} data key(s) are wrapped by none of the keys in "
            f"TASKER_PII_KEYS: {shown}{more}; add the master key they were "
            "wrapped with (after the first) and run again"
        )
        self.key_ids = key_ids
        self.report = report


@dataclass
class RotationReport:
    """What one run did: counts per outcome, and the masters it moved keys off."""

    master_id: str
    rewrapped: int = 0
    already_current: int = 0
    left: int = 0
    batches: int = 0
    from_masters: Counter[str] = field(default_factory=Counter)
    unreadable: list[uuid.UUID] = field(default_factory=list)


def _stale() -> QuerySet[DataKey]:
    """Return the keys still to re-wrap: not erased, not under the first master."""
    return DataKey.objects.filter(wrapped__isnull=False).exclude(
        master_id=crypto.current_master_id()
    )


def _rewrap_batch(
    report: RotationReport, after: uuid.UUID | None, batch_size: int
) -> uuid.UUID | None:
    """Re-wrap one batch of keys after ``after`` (by id); return the batch's last id.

    Returns None when no key is left past ``after``.
    """
    with transaction.atomic(durable=True):
        rows = _stale().select_for_update(skip_locked=True).order_by("pk")
        if after is not None:
            rows = rows.filter(pk__gt=after)
        batch = list(rows.values_list("pk", "wrapped", "master_id")[:batch_size])
        for key_id, wrapped, master_id in batch:
            if wrapped is None:  # excluded by the query; says so to the type checker
                continue
            try:
                raw = crypto.unwrap(bytes(wrapped), master_id)
            except crypto.PIIUnreadable:
                report.unreadable.append(key_id)
                continue
            new_wrapped, new_master = crypto.wrap(raw)
            # Compare-and-set: another run, or an erasure, may have been first.
            moved = DataKey.objects.filter(
                pk=key_id, master_id=master_id, wrapped__isnull=False
            ).update(wrapped=new_wrapped, master_id=new_master)
            if moved:
                report.rewrapped += 1
                report.from_masters[master_id or "(none)"] += 1
    report.batches += 1
    return batch[-1][0] if batch else None


def pii_keys_rotate(
    *,
    actor: Actor,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    progress: Callable[[RotationReport], None] | None = None,
) -> RotationReport:
    """Re-wrap every non-erased data key not yet under the first master key.

    ``max_batches`` stops early (a slice of a large table per run; the next
    run resumes). ``progress`` is called after each batch. Writes one
    ``pii.keys_rotated`` audit event if anything was re-wrapped, then raises
    :class:`UnknownMasterKey` if some key opens under no configured master
    (every other key has been re-wrapped by then).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RotationReport(master_id=crypto.current_master_id())
    report.already_current = DataKey.objects.filter(
        wrapped__isnull=False, master_id=report.master_id
    ).count()
    after: uuid.UUID | None = None
    while max_batches is None or report.batches < max_batches:
        after = _rewrap_batch(report, after, batch_size)
        if after is None:
            break
        if progress is not None:
            progress(report)
    report.left = _stale().count()
    if report.rewrapped:
        with transaction.atomic(durable=True):
            audit_record(
                actor=actor,
                action="pii.keys_rotated",
                object_type="pii_keys",
                object_id=report.master_id,
                metadata={
                    "rewrapped": report.rewrapped,
                    "already_current": report.already_current,
                    "left": report.left,
                    "unreadable": len(report.unreadable),
                    "from_master_ids": sorted(report.from_masters),
                    "from_masters": dict(sorted(report.from_masters.items())),
                },
            )
    if report.unreadable:
        raise UnknownMasterKey(report.unreadable, report)
    return report
