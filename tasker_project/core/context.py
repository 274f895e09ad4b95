"""Who acts from where, in which request: the context every audit row reads.

One correlation id ties together what one request or one task attempt
wrote: the business audit events, django-auditlog's field diffs (this
module's :func:`correlation_id` is ``AUDITLOG_CID_GETTER``) and the task
itself. The request middleware binds the id and the client address; the
executor binds the task's id and, for the system actor it runs as, the
task's initiator (``initiator_label``: on whose behalf).

Context variables, not thread locals: each request, Celery task and
``asyncio`` task sees its own values, and :func:`bind` restores the
previous ones on exit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

MAX_CORRELATION_ID = 100

_correlation_id: ContextVar[str] = ContextVar("tasker_correlation_id", default="")
_remote_addr: ContextVar[str | None] = ContextVar("tasker_remote_addr", default=None)
_initiator_label: ContextVar[str] = ContextVar("tasker_initiator_label", default="")

_UNSET: Any = object()


def correlation_id() -> str | None:
    """Return the current correlation id, or None outside a request or attempt.

    ``AUDITLOG_CID_GETTER`` names this function: None stores a NULL ``cid``.
    """
    return _correlation_id.get() or None


def remote_addr() -> str | None:
    """Return the current client address (None outside a request)."""
    return _remote_addr.get()


def initiator_label() -> str:
    """Return on whose behalf the current system actor acts ("" if nobody's)."""
    return _initiator_label.get()


def new_correlation_id() -> str:
    """Return a fresh correlation id (a uuid4 in hex, like a task's default)."""
    return uuid.uuid4().hex


def valid_correlation_id(value: str | None) -> bool:
    """Return whether ``value`` is 1-100 printable ASCII characters."""
    return (
        value is not None
        and 0 < len(value) <= MAX_CORRELATION_ID
        and value.isascii()
        and value.isprintable()
    )


def correlation_id_from(value: str | None) -> str:
    """Return ``value`` if it is a valid correlation id, otherwise a fresh one."""
    return (
        value
        if value is not None and valid_correlation_id(value)
        else (new_correlation_id())
    )


@contextmanager
def bind(
    *,
    correlation_id: str | None = _UNSET,
    remote_addr: str | None = _UNSET,
    initiator_label: str | None = _UNSET,
) -> Iterator[None]:
    """Set the given values for the ``with`` block; restore the previous ones.

    An argument left out keeps its current value; None clears it.
    """
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    if correlation_id is not _UNSET:
        tokens.append((_correlation_id, _correlation_id.set(correlation_id or "")))
    if remote_addr is not _UNSET:
        tokens.append((_remote_addr, _remote_addr.set(remote_addr or None)))
    if initiator_label is not _UNSET:
        tokens.append((_initiator_label, _initiator_label.set(initiator_label or "")))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
