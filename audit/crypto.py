"""PII at rest: a data key per record, versioned tokens, blind indexes.

- **Master keys** (``TASKER_PII_KEYS``, Fernet) only wrap data keys; the
  first wraps new ones, the others still unwrap until ``manage.py
  rotate_pii_keys`` has re-wrapped every key under the first.
- **Data keys** (:class:`audit.models.DataKey`): 256 random bits per owning
  record (a task, a customer, an order, a sent mail, an account), stored
  wrapped and tagged with the blind index of the record's subject. Erasing
  a subject clears its keys' material: every copy of its data, in every
  table and every backup, becomes unreadable at once (crypto-shredding).
- **Tokens**: a personal value is stored as
  ``pii:1:<data key id, 32 hex>:<base64url(nonce ‖ AES-256-GCM ciphertext)>``
  over the value's JSON, so a dict or a number round-trips too. The key id
  is the GCM associated data: a token pasted under another key's id does
  not open.
- **Blind index**: HMAC-SHA256 under ``TASKER_PII_INDEX_KEY`` of a
  normalised (stripped, case-folded) e-mail, for uniqueness and look-ups
  without decrypting.

A :class:`Box` is one data key, ready to seal and open values. Unwrapped
keys are cached per process for ``TASKER_PII_KEY_CACHE_SECONDS`` (at most
60): the engine's claim returns the wrapped key with the step, so a step
costs no extra statement, and a list page opens many tasks' keys with one
query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from audit.models import DataKey
from tasker_project.core.errors import TaskerError

TOKEN_PREFIX = "pii:1:"  # noqa: S105 (a format marker, not a secret)
ERASED = "[erased]"
_NONCE_BYTES = 12
# Bound the cache: a busy worker sees a new task (and key) per step.
_CACHE_MAX = 20_000


class PIIUnreadable(TaskerError):
    """A token that does not open although its key exists (or is unknown).

    Never masked silently: a wrong master key or a corrupted column must be
    seen and fixed, not read as missing data.
    """

    code = "pii_unreadable"
    http_status = 503


def blind_index(value: str) -> str:
    """Return the blind index of ``value`` (an e-mail): HMAC-SHA256, hex."""
    normalised = value.strip().casefold().encode()
    key: bytes = settings.TASKER_PII_INDEX_KEY
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()


def fingerprint(master: bytes) -> str:
    """Return a short, non-secret name of a master key (for rotation)."""
    return hashlib.sha256(b"tasker-pii-master:" + master).hexdigest()[:16]


@lru_cache(maxsize=4)
def _masters_of(keys: tuple[bytes, ...]) -> tuple[tuple[str, Fernet], ...]:
    return tuple((fingerprint(key), Fernet(key)) for key in keys)


def masters() -> tuple[tuple[str, Fernet], ...]:
    """Return ``(fingerprint, Fernet)`` per master key, the encrypting one first."""
    return _masters_of(tuple(settings.TASKER_PII_KEYS))


def current_master_id() -> str:
    """Return the fingerprint of the master key that wraps new data keys."""
    return masters()[0][0]


def unwrap(wrapped: bytes | memoryview, master_id: str = "") -> bytes:
    """Return the raw data key; try the named master first, then the others."""
    ordered = sorted(masters(), key=lambda pair: pair[0] != master_id)
    for _, fernet in ordered:
        try:
            return fernet.decrypt(bytes(wrapped))
        except InvalidToken:
            continue
    raise PIIUnreadable(
        "a data key is wrapped by none of the keys in TASKER_PII_KEYS: restore "
        "the master key it was wrapped with"
    )


def wrap(raw: bytes) -> tuple[bytes, str]:
    """Return ``raw`` wrapped by the current master key, and that key's id."""
    master_id, fernet = masters()[0]
    return fernet.encrypt(raw), master_id


_cache: dict[uuid.UUID, tuple[float, AESGCM]] = {}


def _remember(key_id: uuid.UUID, aead: AESGCM) -> None:
    if len(_cache) >= _CACHE_MAX:
        now = time.monotonic()
        # list(): a snapshot, other threads insert meanwhile.
        for stale in [k for k, (until, _) in list(_cache.items()) if until <= now]:
            _cache.pop(stale, None)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
    _cache[key_id] = (time.monotonic() + settings.TASKER_PII_KEY_CACHE_SECONDS, aead)


def _cached(key_id: uuid.UUID) -> AESGCM | None:
    entry = _cache.get(key_id)
    if entry is None:
        return None
    if entry[0] <= time.monotonic():
        _cache.pop(key_id, None)  # another thread may have dropped it already
        return None
    return entry[1]


def forget(key_ids: Iterable[Any]) -> None:
    """Drop keys from this process's cache (after erasure or rotation)."""
    for key_id in key_ids:
        _cache.pop(_as_uuid(key_id), None)


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


@dataclass(frozen=True, slots=True)
class Box:
    """One data key: seal values under personal keys, open tokens.

    ``aead`` is None for an erased key (its tokens read ``[erased]``) and
    for :data:`NO_KEY` (a record without a key: opening a token then looks
    its key up).
    """

    key_id: uuid.UUID | None
    aead: AESGCM | None
    erased: bool = False

    def seal(self, value: Any, keys: frozenset[str]) -> Any:
        """Return ``value`` with every value under a personal key as a token."""
        if isinstance(value, dict):
            return {
                k: self.seal_value(v) if k in keys else self.seal(v, keys)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.seal(item, keys) for item in value]
        return value

    def seal_value(self, value: Any) -> Any:
        """Return the token of one value (``None`` and ``""`` stay as they are)."""
        if value is None or value == "" or is_token(value):
            return value
        if self.aead is None or self.key_id is None:
            raise PIIUnreadable("cannot encrypt with an erased or missing data key")
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self.aead.encrypt(nonce, plain, self.key_id.bytes)
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{TOKEN_PREFIX}{self.key_id.hex}:{body}"

    def open(self, value: Any) -> Any:
        """Return ``value`` with every token opened (erased ones as ``[erased]``)."""
        if isinstance(value, dict):
            return {k: self.open(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open(item) for item in value]
        if is_token(value):
            return self.open_value(value)
        return value

    def open_value(self, token: str) -> Any:
        """Return the value of one token; raise :class:`PIIUnreadable` if it fails."""
        key_hex, _, body = token[len(TOKEN_PREFIX) :].partition(":")
        try:
            key_id = uuid.UUID(hex=key_hex)
        except ValueError:
            raise PIIUnreadable("a stored token names no valid data key") from None
        box = self if key_id == self.key_id else box_for(key_id)
        if box.erased:
            return ERASED
        if box.aead is None:
            raise PIIUnreadable(f"data key {key_id} does not exist")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            plain = box.aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key_id.bytes
            )
            return json.loads(plain)
        except (InvalidTag, ValueError, binascii.Error):
            raise PIIUnreadable(
                f"a value encrypted with data key {key_id} does not decrypt"
            ) from None


NO_KEY = Box(key_id=None, aead=None)


def is_token(value: Any) -> bool:
    """Return whether ``value`` is a stored token."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def holds_tokens(value: Any) -> bool:
    """Return whether any token sits anywhere in ``value``."""
    if isinstance(value, dict):
        return any(holds_tokens(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_tokens(item) for item in value)
    return is_token(value)


def box_from_row(
    key_id: Any, wrapped: bytes | memoryview | None, master_id: str = ""
) -> Box:
    """Return the box of a data key row already read (the claim joins it)."""
    if key_id is None:
        return NO_KEY
    key_uuid = _as_uuid(key_id)
    if wrapped is None:
        _cache.pop(key_uuid, None)
        return Box(key_id=key_uuid, aead=None, erased=True)
    aead = _cached(key_uuid)
    if aead is None:
        aead = AESGCM(unwrap(wrapped, master_id))
        _remember(key_uuid, aead)
    return Box(key_id=key_uuid, aead=aead)


def box_for(key_id: Any) -> Box:
    """Return the box of ``key_id``: from the cache, else one query."""
    if key_id is None:
        return NO_KEY
    return boxes_for([key_id])[_as_uuid(key_id)]


def boxes_for(key_ids: Iterable[Any]) -> dict[uuid.UUID, Box]:
    """Return the boxes of ``key_ids``; the uncached ones are read in one query.

    An unknown id gets a box that refuses to open (:class:`PIIUnreadable`).
    """
    wanted = {_as_uuid(k) for k in key_ids if k is not None}
    boxes: dict[uuid.UUID, Box] = {}
    missing = []
    for key_id in wanted:
        aead = _cached(key_id)
        if aead is None:
            missing.append(key_id)
        else:
            boxes[key_id] = Box(key_id=key_id, aead=aead)
    if missing:
        rows = DataKey.objects.filter(pk__in=missing).values_list(
            "id", "wrapped", "master_id"
        )
        for key_id, wrapped, master_id in rows:
            boxes[key_id] = box_from_row(key_id, wrapped, master_id)
    for key_id in wanted - boxes.keys():
        boxes[key_id] = Box(key_id=key_id, aead=None)
    return boxes


def new_key(
    *, owner_type: str, owner_id: Any, subject: str | None
) -> tuple[DataKey, Box]:
    """Return a fresh data key row (not yet saved) and its box.

    ``subject`` is the e-mail of the person the record is about, if any:
    its blind index lets GDPR export and erasure find the key.
    """
    raw = AESGCM.generate_key(bit_length=256)
    wrapped, master_id = wrap(raw)
    row = DataKey(
        owner_type=owner_type,
        owner_id=str(owner_id),
        subject_index=blind_index(subject) if subject else "",
        wrapped=wrapped,
        master_id=master_id,
    )
    aead = AESGCM(raw)
    _remember(row.pk, aead)
    return row, Box(key_id=row.pk, aead=aead)
